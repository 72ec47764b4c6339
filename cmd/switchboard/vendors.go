package main

import (
	"context"
	"net/http"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/portsip"
	portsipsim "github.com/switchboard-cc/switchboard/upstreams/portsip/sim"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/telavox"
	telavoxsim "github.com/switchboard-cc/switchboard/upstreams/telavox/sim"
	"github.com/switchboard-cc/switchboard/upstreams/tvox"
	tvoxsim "github.com/switchboard-cc/switchboard/upstreams/tvox/sim"
)

// demoVendor is one supported vendor: its driver and, for the demo, its simulator. hook, if
// set, runs once the gateway serves (Sobot's webhook pusher).
type demoVendor struct {
	name  string
	title string
	new   upstreams.Constructor
	sim   func(*simcc.Center) (http.Handler, upstreams.SimSource, func(ctx context.Context, gatewayURL, tenant, source string))
}

// demoVendors lists every vendor the code supports, in demo order.
func demoVendors() []demoVendor {
	return []demoVendor{
		{name: "telavox", title: "Telavox", new: telavox.New, sim: func(c *simcc.Center) (http.Handler, upstreams.SimSource, func(context.Context, string, string, string)) {
			s, src := telavoxsim.NewDemo(c)
			return s, src, nil
		}},
		{name: "tvox", title: "TVox", new: tvox.New, sim: func(c *simcc.Center) (http.Handler, upstreams.SimSource, func(context.Context, string, string, string)) {
			s, src := tvoxsim.NewDemo(c)
			return s, src, nil
		}},
		{name: "portsip", title: "PortSIP", new: portsip.New, sim: func(c *simcc.Center) (http.Handler, upstreams.SimSource, func(context.Context, string, string, string)) {
			s, src := portsipsim.NewDemo(c)
			return s, src, nil
		}},
	}
}

// newRegistry maps vendor names to driver constructors; built here, never in init().
func newRegistry() *upstreams.Registry {
	r := upstreams.NewRegistry()
	for _, v := range demoVendors() {
		r.Register(v.name, v.new)
	}
	return r
}
