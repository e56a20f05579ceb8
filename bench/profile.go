package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"
)

// profiler takes CPU profiles of a phase's measured window: of every
// chatstated process (through its --pprof endpoint) and of chatbench
// itself (the clients, and the bare-Raft baseline, which runs
// in-process). Profiling costs a few percent of CPU; use it to find out
// why a figure is what it is, not for the figures themselves.
type profiler struct {
	dir string
	// nodes are the chatstated processes to profile (none with --addrs).
	nodes []profiledNode
}

// profiledNode is one chatstated process with a pprof endpoint. Its
// profiles are named <phase>-<name>.pprof; the leader's name ends in
// "-leader".
type profiledNode struct {
	name  string
	pprof string
}

// start profiles from after warmup for duration, in the background; the
// returned wait blocks until the profiles are written and returns the
// files written.
func (p *profiler) start(ctx context.Context, phase string, warmup, duration time.Duration) (wait func() ([]string, error)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var files []string
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	wrote := func(f string) {
		mu.Lock()
		files = append(files, f)
		mu.Unlock()
	}
	timer := time.NewTimer(warmup)
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		for _, n := range p.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := filepath.Join(p.dir, phase+"-"+n.name+".pprof")
				if err := fetchProfile(ctx, n.pprof, duration, f); err != nil {
					fail(fmt.Errorf("profile of %s in %s: %w", n.name, phase, err))
					return
				}
				wrote(f)
			}()
		}
		f := filepath.Join(p.dir, phase+"-chatbench.pprof")
		if err := profileSelf(ctx, duration, f); err != nil {
			fail(fmt.Errorf("chatbench profile of %s: %w", phase, err))
			return
		}
		wrote(f)
	}()
	return func() ([]string, error) {
		wg.Wait()
		if len(errs) > 0 {
			return files, errs[0]
		}
		return files, nil
	}
}

// fetchProfile downloads a CPU profile of d from a pprof endpoint.
func fetchProfile(ctx context.Context, addr string, d time.Duration, file string) error {
	secs := max(1, int((d+time.Second-1)/time.Second))
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// profileSelf writes a CPU profile of this process over d.
func profileSelf(ctx context.Context, d time.Duration, file string) error {
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return err
	}
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	pprof.StopCPUProfile()
	return out.Close()
}
