package wallboardtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Check is one end-to-end look at a wallboard served by a gateway.
type Check struct {
	// URL is the page, for example http://127.0.0.1:8080/wallboard.
	URL string
	// Token is typed into the sign-in form.
	Token string
	// Screenshot is where the PNG goes; empty takes none.
	Screenshot string
	// Timeout bounds each wait: live connection with data, then a changed number [30s].
	Timeout time.Duration
}

// Result is what the page showed.
type Result struct {
	Queues, Agents int
	// Vendors are the vendor badges on screen.
	Vendors []string
	// Before and After are the figures the gateway pushes (calls waiting, service level,
	// counters, agents by state) keyed by data-testid: the first full view and the first
	// one that differed.
	Before, After map[string]string
}

// figures reads the numbers the gateway sends; the clocks the page advances itself
// (longest wait, time in state) are left out so a change proves data arrived.
const figures = `(() => {
  const sel = ['-waiting', '-sl', '-offered', '-answered', '-abandoned'].map((s) => '[data-testid$="' + s + '"]')
    .concat(['[data-testid^="agents-"]', '[data-testid*="-agents-"]']).join(',');
  const o = {};
  for (const e of document.querySelectorAll(sel)) o[e.dataset.testid] = e.textContent;
  return o;
})()`

const ready = `(() => {
  const t = (id) => { const e = document.querySelector('[data-testid="' + id + '"]'); return e ? e.textContent : ''; };
  if (t('signin-error')) return { error: t('signin-error') };
  const q = Number(t('queue-count')), a = Number(t('agent-count'));
  if (t('status') !== 'live' || !q || !(a || t('no-agents').startsWith('Not available'))) return null;
  return { queues: q, agents: a, vendors: [...new Set([...document.querySelectorAll('.badge')].map((e) => e.textContent))].sort() };
})()`

// Run opens the page, signs in through the form, waits for the live connection, queues and
// agents (or the page saying the tenant's sources have none), then for a figure to change,
// and saves the screenshot.
func (c Check) Run(ctx context.Context, b *Browser) (Result, error) {
	res, err := c.run(ctx, b)
	if err != nil && c.Screenshot != "" {
		// A picture and the page's own words say more about a failure than a timeout does.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var state string
		_ = b.Eval(sctx, pageState, &state)
		_ = b.Screenshot(sctx, c.Screenshot)
		err = fmt.Errorf("%w; page: %s; screenshot %s", err, state, c.Screenshot)
	}
	return res, err
}

const pageState = `['status', 'errors', 'signin-error', 'queue-count', 'agent-count', 'no-agents']
  .map((id) => { const e = document.querySelector('[data-testid="' + id + '"]'); return id + '=' + JSON.stringify(e ? e.textContent : null); }).join(' ')`

func (c Check) run(ctx context.Context, b *Browser) (Result, error) {
	var res Result
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	step := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return f(ctx)
	}
	tok, _ := json.Marshal(c.Token) // a string always encodes
	signIn := `(() => {
  document.querySelector('[data-testid="token-input"]').value = ` + string(tok) + `;
  document.querySelector('[data-testid="sign-in"]').click();
  return true;
})()`
	err := step(func(ctx context.Context) error {
		if err := b.Navigate(ctx, c.URL); err != nil {
			return err
		}
		if err := b.Eval(ctx, signIn, nil); err != nil {
			return err
		}
		var r struct {
			Error   string   `json:"error"`
			Queues  int      `json:"queues"`
			Agents  int      `json:"agents"`
			Vendors []string `json:"vendors"`
		}
		if err := b.Poll(ctx, ready, &r); err != nil {
			return fmt.Errorf("waiting for a live wallboard with queues and agents: %w", err)
		}
		if r.Error != "" {
			return fmt.Errorf("signing in: the page says %q", r.Error)
		}
		res.Queues, res.Agents, res.Vendors = r.Queues, r.Agents, r.Vendors
		return b.Eval(ctx, figures, &res.Before)
	})
	if err != nil {
		return res, err
	}
	err = step(func(ctx context.Context) error {
		for {
			var now map[string]string
			if err := b.Eval(ctx, figures, &now); err != nil {
				return err
			}
			if len(now) > 0 && !maps.Equal(res.Before, now) {
				res.After = now
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for the figures on screen to change: %w", ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	if err != nil {
		return res, err
	}
	if c.Screenshot != "" {
		// Success takes the picture here; run's caller takes one only on failure.
		time.Sleep(1300 * time.Millisecond) // let the change highlight fade so the picture is calm
		if err := step(func(ctx context.Context) error { return b.Screenshot(ctx, c.Screenshot) }); err != nil {
			return res, err
		}
	}
	if exc := b.Exceptions(); len(exc) > 0 {
		return res, errors.New("uncaught exceptions in the page: " + fmt.Sprint(exc))
	}
	return res, nil
}
