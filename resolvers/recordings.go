package resolvers

import (
	"context"
	"io"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// RecordingPath is where the gateway serves recordings it streams for the caller.
const RecordingPath = "/recordings/"

// OpenRecording streams the recording of a call of the caller's tenant, with the source's
// own credentials. It needs pii:read; the errors are the same coded errors as the API's.
func (r *Resolver) OpenRecording(ctx context.Context, callID string) (io.ReadCloser, string, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, "", err
	}
	if !p.Has(auth.ScopePIIRead) {
		return nil, "", errorf(CodeForbidden, "scope %s required", auth.ScopePIIRead)
	}
	src, vendorID, err := r.sourceByGlobalID(ctx, callID, model.KindCall)
	if err != nil {
		return nil, "", err
	}
	opener, ok := src.Driver.(upstreams.RecordingOpener)
	getter, ok2 := src.Driver.(upstreams.CallGetter)
	if !ok || !ok2 {
		return nil, "", &codedError{code: CodeNotSupported, source: src.Spec.ID, msg: "recordings are not streamed for source " + src.Spec.ID}
	}
	call, err := getter.GetCall(ctx, vendorID)
	if err != nil {
		return nil, "", err
	}
	if call == nil || call.RecordingURL == nil {
		return nil, "", errorf(CodeNotFound, "call %q has no recording", truncate(callID, 80))
	}
	return opener.OpenRecording(ctx, *call.RecordingURL)
}

// ErrorCode returns the extensions.code and client-safe message of an error from this
// package, for answers outside GraphQL (recording downloads).
func ErrorCode(err error) (code, msg string) {
	g := PresentError(nil)(context.Background(), err)
	c, _ := g.Extensions["code"].(string)
	return c, g.Message
}
