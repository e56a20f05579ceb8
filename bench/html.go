package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: inline
// CSS and SVG charts, no script and no external resource.
func (r *Report) WriteHTML(w io.Writer) error {
	type row struct {
		ID, System, Mode, Clients, Throughput, P50, P90, P99, P999, Max, Errors, Versus string
		CPUPerOp, Busy, CPUDetail                                                       string
		Sub                                                                             bool
	}
	type check struct {
		Check
		Verdict, Class string
	}
	type figure struct {
		SVG     template.HTML
		Caption string
	}
	data := struct {
		R       *Report
		Rows    []row
		Checks  []check
		Figures []figure
		Errors  []string
	}{R: r}

	for i := range r.Phases {
		p := &r.Phases[i]
		mode := p.Mode
		if p.Mode == "open" {
			mode = "open @ " + rate(p.Rate) + "/s"
		}
		add := func(id string, s Summary, sub bool) {
			rw := row{ID: id, Throughput: rate(s.Throughput), P50: ms(s.P50Us), P90: ms(s.P90Us), P99: ms(s.P99Us),
				P999: ms(s.P999Us), Max: ms(s.MaxUs), Errors: strconv.FormatInt(s.Errors, 10), Sub: sub}
			if !sub {
				rw.System, rw.Mode, rw.Clients, rw.Versus = p.System, mode, strconv.Itoa(p.Clients), r.Versus(p)
				if c := p.CPU; c != nil {
					rw.CPUPerOp = fmt.Sprintf("%.0f", c.PerOpUs)
					rw.Busy = fmt.Sprintf("%.0f%% (others %.0f%%)", 100*c.MachineBusy, 100*c.OthersBusy)
					rw.CPUDetail = cpuDetail(c)
				}
			}
			data.Rows = append(data.Rows, rw)
		}
		add(p.ID, p.All, false)
		if p.Reads != nil {
			add("reads", *p.Reads, true)
		}
		if p.Writes != nil {
			add("writes", *p.Writes, true)
		}
		for _, e := range p.ErrorSamples {
			data.Errors = append(data.Errors, p.ID+": "+e)
		}
	}
	for _, c := range r.Checks {
		v, cl := "info", "info"
		if c.Pass != nil && *c.Pass {
			v, cl = "pass", "pass"
		} else if c.Pass != nil {
			v, cl = "FAIL", "fail"
		}
		data.Checks = append(data.Checks, check{Check: c, Verdict: v, Class: cl})
	}
	for _, ch := range r.charts() {
		data.Figures = append(data.Figures, figure{SVG: template.HTML(ch.chart.SVG()), Caption: ch.caption})
	}
	return reportTemplate.Execute(w, data)
}

type captioned struct {
	chart   chart
	caption string
}

// charts builds the report's figures from whichever phases ran.
func (r *Report) charts() []captioned {
	var out []captioned
	col := func(i int) string { return palette[i%len(palette)] }

	// W1 against its baselines.
	var w1 []series
	if p := r.Phase("w1"); p != nil {
		w1 = append(w1, spectrumSeries("chatstate W1 (1 client)", p.All, false, col(0)))
	}
	if p := r.Phase("bare-1"); p != nil {
		w1 = append(w1, spectrumSeries("bare raft Apply (1 client)", p.All, true, col(1)))
	}
	if p := r.Phase("fsync"); p != nil {
		w1 = append(w1, spectrumSeries("fsync floor (write+fdatasync)", p.All, true, col(2)))
	}
	if len(w1) > 0 {
		out = append(out, captioned{spectrumChart("W1: sequential writes, latency by percentile", w1),
			"One client writing ~" + strconv.Itoa(r.Settings.MessageBytes) + "-byte customer messages, against bare Raft's Apply of a no-op and the filesystem's fsync floor, in the same run."})
	}

	// W2 at each concurrency, bare raft dashed in the same colour.
	var w2, tpChat, tpBare []series
	var chatPts, barePts []point
	if p, b := r.Phase("w1"), r.Phase("bare-1"); p != nil && b != nil {
		chatPts = append(chatPts, point{0, p.All.Throughput})
		barePts = append(barePts, point{0, b.All.Throughput})
	}
	i := 0
	for _, p := range r.Phases {
		if p.Workload != "W2" || p.System != SystemChatstate {
			continue
		}
		w2 = append(w2, spectrumSeries(fmt.Sprintf("chatstate, %d clients", p.Clients), p.All, false, col(i)))
		chatPts = append(chatPts, point{math.Log2(float64(p.Clients)), p.All.Throughput})
		if b := r.Phase(p.Baseline); b != nil {
			w2 = append(w2, spectrumSeries(fmt.Sprintf("bare raft, %d appliers", b.Clients), b.All, true, col(i)))
			barePts = append(barePts, point{math.Log2(float64(b.Clients)), b.All.Throughput})
		}
		i++
	}
	if len(w2) > 0 {
		out = append(out, captioned{spectrumChart("W2: concurrent writes, latency by percentile", w2),
			"Solid: chatstate through the HTTP API; dashed: bare Raft Apply at the same concurrency."})
	}
	if len(chatPts) > 1 || len(barePts) > 1 {
		tpChat = append(tpChat, series{Name: "chatstate writes (W1, W2)", Points: chatPts, Color: col(0)})
		if len(barePts) > 0 {
			tpBare = append(tpBare, series{Name: "bare raft Apply", Points: barePts, Dashed: true, Color: col(1)})
		}
		out = append(out, captioned{throughputChart("Write throughput against concurrency", append(tpChat, tpBare...)),
			"Group commit merges concurrent writes into one log entry; bare Raft batches up to MaxAppendEntries (64) entries per disk write."})
	}

	// R1.
	var r1 []series
	var r1Pts []point
	i = 0
	for _, p := range r.Phases {
		if p.Workload != "R1" {
			continue
		}
		r1 = append(r1, spectrumSeries(fmt.Sprintf("%d readers", p.Clients), p.All, false, col(i)))
		r1Pts = append(r1Pts, point{math.Log2(float64(p.Clients)), p.All.Throughput})
		i++
	}
	if len(r1) > 0 {
		out = append(out, captioned{spectrumChart("R1: filtered list pages (50 chats), latency by percentile", r1),
			"A uniform mix of the five filters: " + strings.Join(ListFilterKinds, "; ") + "."})
	}
	if len(r1Pts) > 1 {
		ss := []series{{Name: "chatstate R1", Points: r1Pts, Color: col(0)}}
		if ref := r.Settings.Reference; ref != nil && ref.Throughput > 0 {
			ss = append(ss, series{Name: ref.Name + " reference at 64 (not measured here)", Points: []point{{6, ref.Throughput}}, Color: col(1)},
				series{Name: "target at 64: 2× " + ref.Name, Points: []point{{6, 2 * ref.Throughput}}, Color: col(2)})
		}
		out = append(out, captioned{throughputChart("R1 throughput against readers", ss), ""})
	}

	// M1.
	var m1 []series
	for j, id := range []string{"m1-closed", "m1-open"} {
		p := r.Phase(id)
		if p == nil {
			continue
		}
		label := fmt.Sprintf("closed loop, %d clients", p.Clients)
		if p.Mode == "open" {
			label = fmt.Sprintf("open loop, %s ops/s", rate(p.Rate))
		}
		if p.Reads != nil && p.Reads.Count > 0 {
			m1 = append(m1, spectrumSeries(label+": reads", *p.Reads, j == 1, col(0)))
		}
		if p.Writes != nil && p.Writes.Count > 0 {
			m1 = append(m1, spectrumSeries(label+": writes", *p.Writes, j == 1, col(1)))
		}
	}
	if len(m1) > 0 {
		out = append(out, captioned{spectrumChart("M1: an operators' day, latency by percentile", m1),
			"Open-loop latencies are measured from each operation's due time, so queueing behind a stall counts (no coordinated omission)."})
	}
	return out
}

// cpuDetail lists each process's CPU seconds, in name order.
func cpuDetail(c *CPUUsage) string {
	names := make([]string, 0, len(c.Seconds))
	for n := range c.Seconds {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.2fs", n, c.Seconds[n])
	}
	return strings.Join(parts, ", ")
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>chatbench report {{.R.Started.Format "2006-01-02 15:04 MST"}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:1340px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}.meta span{margin-right:18px;white-space:nowrap}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f6f6f6;font-weight:600}td.l,th.l{text-align:left}tr.sub td{color:#666;font-size:12px}
.pass{color:#fff;background:#1a7f37;border-radius:3px;padding:1px 6px}.fail{color:#fff;background:#cf222e;border-radius:3px;padding:1px 6px}.info{color:#fff;background:#777;border-radius:3px;padding:1px 6px}
.figs{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;border:1px solid #e5e5e5;padding:6px}figcaption{max-width:640px;color:#555;font-size:12px}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px}ul{margin:4px 0}
</style></head><body>
<h1>chatbench</h1>
<div class="meta"><span>{{.R.Started.Format "2006-01-02 15:04:05 MST"}}, {{printf "%.0f" (.R.Finished.Sub .R.Started).Seconds}} s</span>
<span>{{.R.Host.Hostname}}: {{.R.Host.OS}}/{{.R.Host.Arch}}, {{.R.Host.CPUs}} CPUs, {{.R.Host.GoVersion}}</span>
<span>load average {{.R.Host.LoadAvgStart}} → {{.R.Host.LoadAvgEnd}}</span></div>
<div class="meta"><span>{{.R.Cluster.Nodes}} node(s){{if .R.Cluster.Own}}, started by chatbench{{end}}, leader {{.R.Cluster.Leader}}, version {{.R.Cluster.Version}}</span>
<span>scale {{.R.Settings.Scale}}, seed {{.R.Settings.Seed}}, {{.R.Settings.Encoding}}, {{.R.Settings.Consistency}} reads</span>
<span>warmup {{.R.Settings.Warmup}}, {{.R.Settings.Duration}} per phase</span>
<span>data on {{.R.Cluster.Filesystem}}</span></div>
<div class="meta"><span>command: <code>{{.R.Settings.Command}}</code></span></div>
{{if .Checks}}<h2>Targets</h2>
<table><tr><th class="l"></th><th class="l">figure</th><th class="l">measured</th><th class="l">target</th><th class="l">note</th></tr>
{{range .Checks}}<tr><td class="l"><span class="{{.Class}}">{{.Verdict}}</span></td><td class="l">{{.Name}}</td><td class="l">{{.Measured}}</td><td class="l">{{.Target}}</td><td class="l">{{.Note}}</td></tr>
{{end}}</table>{{end}}
<h2>Charts</h2>
<div class="figs">{{range .Figures}}<figure>{{.SVG}}{{if .Caption}}<figcaption>{{.Caption}}</figcaption>{{end}}</figure>{{end}}</div>
<h2>Figures</h2>
<table><tr><th class="l">phase</th><th class="l">system</th><th class="l">mode</th><th>clients</th><th>ops/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>errors</th><th>cpu µs/op</th><th>machine busy</th><th class="l">vs baseline</th></tr>
{{range .Rows}}<tr{{if .Sub}} class="sub"{{end}}><td class="l">{{.ID}}</td><td class="l">{{.System}}</td><td class="l">{{.Mode}}</td><td>{{.Clients}}</td><td>{{.Throughput}}</td><td>{{.P50}}</td><td>{{.P90}}</td><td>{{.P99}}</td><td>{{.P999}}</td><td>{{.Max}}</td><td>{{.Errors}}</td><td title="{{.CPUDetail}}">{{.CPUPerOp}}</td><td>{{.Busy}}</td><td class="l">{{.Versus}}</td></tr>
{{end}}</table>
{{with .R.Load}}<p>Dataset load: {{.Commands}} API writes ({{.Accounts}} accounts, {{.Operators}} operators, {{.Chats}} chats) in {{printf "%.1f" .Seconds}} s: {{printf "%.0f" .Rate}} writes/s with {{.Clients}} concurrent clients.</p>{{end}}
{{if .Errors}}<h2>Errors (first few per phase)</h2><ul>{{range .Errors}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{if .R.Notes}}<h2>Notes</h2><ul>{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>How to read this</h2>
<ul>
<li>Closed loop: a fixed number of clients, each sending its next request when the previous one is answered. Open loop: requests arrive at a fixed rate whatever the answers do, and each latency is measured from when the request was due.</li>
<li>Latency charts are HdrHistogram percentile spectra: the x axis spreads the tail evenly (90%, 99%, 99.9%); the y axis is logarithmic.</li>
<li>Baselines run on the same machine, the same filesystem and in the same run: the fsync floor (64-byte appends, each followed by fdatasync) and bare hashicorp/raft Apply of a no-op with chatstated's stores and cluster size.</li>
<li>Failed operations are counted under errors and kept out of the latency figures.</li>
<li>cpu µs/op is the CPU time of chatbench and the nodes together per operation (hover for each process's seconds); machine busy is the whole machine's CPU use during the window, and "others" the part taken by processes outside the benchmark.</li>
</ul>
</body></html>
`))
