package main

import (
	"context"
	"net/http"

	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/ccai"
	ccaisim "github.com/switchboard-cc/switchboard/upstreams/ccai/sim"
	"github.com/switchboard-cc/switchboard/upstreams/portsip"
	portsipsim "github.com/switchboard-cc/switchboard/upstreams/portsip/sim"
	"github.com/switchboard-cc/switchboard/upstreams/simcc"
	"github.com/switchboard-cc/switchboard/upstreams/sobot"
	sobotsim "github.com/switchboard-cc/switchboard/upstreams/sobot/sim"
	"github.com/switchboard-cc/switchboard/upstreams/telavox"
	telavoxsim "github.com/switchboard-cc/switchboard/upstreams/telavox/sim"
	"github.com/switchboard-cc/switchboard/upstreams/tvox"
	tvoxsim "github.com/switchboard-cc/switchboard/upstreams/tvox/sim"
)

// simServer is a running vendor simulator.
type simServer interface {
	http.Handler
	Close()
}

// startHook runs once the gateway serves, for simulators that push to it (Sobot webhooks).
type startHook func(ctx context.Context, gatewayURL, tenant, source string)

// demoVendor is one supported vendor: its driver and, for the demo, its simulator.
type demoVendor struct {
	name  string
	title string
	new   upstreams.Constructor
	sim   func(*simcc.Center) (simServer, upstreams.SimSource, startHook)
}

// plain adapts a simulator constructor that needs no start hook.
func plain[S simServer](newDemo func(*simcc.Center) (S, upstreams.SimSource)) func(*simcc.Center) (simServer, upstreams.SimSource, startHook) {
	return func(c *simcc.Center) (simServer, upstreams.SimSource, startHook) {
		s, src := newDemo(c)
		return s, src, nil
	}
}

// demoVendors lists every vendor the code supports, in demo order.
func demoVendors() []demoVendor {
	return []demoVendor{
		{name: telavox.Vendor, title: "Telavox", new: telavox.New, sim: plain(telavoxsim.NewDemo)},
		{name: tvox.Vendor, title: "TVox", new: tvox.New, sim: plain(tvoxsim.NewDemo)},
		{name: ccai.Vendor, title: "CCAI Platform", new: ccai.New, sim: plain(ccaisim.NewDemo)},
		{name: portsip.Vendor, title: "PortSIP", new: portsip.New, sim: plain(portsipsim.NewDemo)},
		{name: sobot.Vendor, title: "Sobot", new: sobot.New, sim: func(c *simcc.Center) (simServer, upstreams.SimSource, startHook) {
			s, src := sobotsim.NewDemo(c)
			return s, src, func(ctx context.Context, gatewayURL, tenant, source string) {
				s.StartPusher(ctx, gatewayURL+"/webhooks/sobot/"+tenant+"/"+source, sobotsim.DemoCompanyID, sobotsim.DemoAppKey)
			}
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
