package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// This file draws the report's charts as inline SVG: no script, no
// external file, so report.html opens anywhere, offline.

// point is one point of a series, in data units.
type point struct{ X, Y float64 }

// series is one line of a chart.
type series struct {
	Name   string
	Points []point
	Dashed bool
	Color  string
}

// tick is an axis mark at a data value.
type tick struct {
	At    float64
	Label string
}

// chart is a line chart. Axes are linear in the values given; a log axis
// is drawn by giving log10 values and ticks labelled accordingly.
type chart struct {
	Title          string
	XLabel, YLabel string
	XTicks, YTicks []tick
	// XMin..XMax and YMin..YMax are the plotted ranges.
	XMin, XMax, YMin, YMax float64
	Series                 []series
	// Markers draws a dot at every point (for sparse series).
	Markers bool
}

// palette is colour-blind-safe (Okabe-Ito), in the order series get them.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

const (
	chartW, chartH                       = 640, 360
	padLeft, padRight, padTop, padBottom = 64, 16, 32, 92
)

// SVG renders the chart.
func (c chart) SVG() string {
	var b strings.Builder
	plotW := float64(chartW - padLeft - padRight)
	plotH := float64(chartH - padTop - padBottom)
	if c.XMax <= c.XMin {
		c.XMax = c.XMin + 1
	}
	if c.YMax <= c.YMin {
		c.YMax = c.YMin + 1
	}
	px := func(x float64) float64 { return padLeft + (x-c.XMin)/(c.XMax-c.XMin)*plotW }
	py := func(y float64) float64 { return padTop + plotH - (y-c.YMin)/(c.YMax-c.YMin)*plotH }
	esc := html.EscapeString

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, esc(c.Title))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>`, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="600">%s</text>`, padLeft, esc(c.Title))
	// Grid and ticks.
	for _, t := range c.YTicks {
		if t.At < c.YMin || t.At > c.YMax {
			continue
		}
		y := py(t.At)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e3e3"/>`, padLeft, y, chartW-padRight, y)
		if t.Label != "" {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" dominant-baseline="middle">%s</text>`, padLeft-6, y, esc(t.Label))
		}
	}
	for _, t := range c.XTicks {
		if t.At < c.XMin || t.At > c.XMax {
			continue
		}
		x := px(t.At)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/>`, x, padTop, x, padTop+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`, x, padTop+plotH+16, esc(t.Label))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`, padLeft, padTop, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle">%s</text>`, padLeft+plotW/2, padTop+plotH+34, esc(c.XLabel))
	fmt.Fprintf(&b, `<text x="14" y="%.1f" font-size="12" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>`,
		padTop+plotH/2, padTop+plotH/2, esc(c.YLabel))
	// Lines, clipped to the plot.
	clip := fmt.Sprintf("clip%x", hashString(c.Title))
	fmt.Fprintf(&b, `<defs><clipPath id="%s"><rect x="%d" y="%d" width="%.0f" height="%.0f"/></clipPath></defs>`, clip, padLeft, padTop, plotW, plotH)
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, p := range s.Points {
			if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline clip-path="url(#%s)" fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>`,
				clip, color, dash, strings.Join(pts, " "), esc(s.Name))
		}
		if c.Markers {
			for _, p := range s.Points {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, px(p.X), py(p.Y), color)
			}
		}
		// Legend, under the axis label, two columns.
		lx := padLeft + (i%2)*int(plotW/2)
		ly := int(padTop+plotH) + 50 + (i/2)*16
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`, lx, ly, lx+24, ly, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" dominant-baseline="middle">%s</text>`, lx+30, ly, esc(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// spectrumX maps a percentile (0..100) to the spectrum's x axis:
// log10(1/(1-p)), so 90% is 1, 99% is 2, 99.9% is 3.
func spectrumX(percentile float64) float64 {
	return -math.Log10(1 - percentile/100)
}

// spectrumChart plots latency against percentile, HdrHistogram style:
// the x axis spreads the tail (90%, 99%, 99.9%, ...) evenly, the y axis
// is logarithmic in milliseconds. The maximum (100%) is left out, as it
// has no place on that axis; the tables give it.
func spectrumChart(title string, ss []series) chart {
	c := chart{Title: title, XLabel: "percentile", YLabel: "latency (ms, log scale)"}
	lo, hi, maxX := math.Inf(1), math.Inf(-1), 1.0
	for i := range ss {
		for _, p := range ss[i].Points {
			lo, hi = min(lo, p.Y), max(hi, p.Y)
			maxX = max(maxX, p.X)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = -2, 1
	}
	c.YMin, c.YMax = math.Floor(lo), math.Ceil(hi)
	if c.YMax == c.YMin {
		c.YMax++
	}
	c.XMin, c.XMax = 0, math.Ceil(maxX)
	labels := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"}
	for i := 0; i <= int(c.XMax) && i < len(labels); i++ {
		c.XTicks = append(c.XTicks, tick{At: float64(i), Label: labels[i]})
	}
	c.YTicks = logTicks(c.YMin, c.YMax)
	c.Series = ss
	return c
}

// logTicks returns ticks for a log10 axis from lo to hi (decades): a
// labelled line at each 1, 2 and 5 of a decade.
func logTicks(lo, hi float64) []tick {
	var ts []tick
	for d := lo; d <= hi; d++ {
		for _, m := range []float64{1, 2, 5} {
			at := d + math.Log10(m)
			if at > hi {
				break
			}
			ts = append(ts, tick{At: at, Label: trimFloat(m * math.Pow(10, d))})
		}
	}
	return ts
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// spectrumSeries turns a summary's spectrum into a series in (log10 of
// 1/(1-p), log10 of ms), leaving out the maximum.
func spectrumSeries(name string, s Summary, dashed bool, color string) series {
	out := series{Name: name, Dashed: dashed, Color: color}
	for _, p := range s.Spectrum {
		if p.Percentile >= 100 || p.LatencyUs <= 0 {
			continue
		}
		out.Points = append(out.Points, point{X: spectrumX(p.Percentile), Y: math.Log10(p.LatencyUs / 1000)})
	}
	return out
}

// throughputChart plots operations per second against concurrency on a
// log2 x axis.
func throughputChart(title string, ss []series) chart {
	c := chart{Title: title, XLabel: "concurrent clients (log scale)", YLabel: "operations per second", Markers: true}
	maxY, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	seen := map[float64]bool{}
	for _, s := range ss {
		for _, p := range s.Points {
			maxY = max(maxY, p.Y)
			lo, hi = min(lo, p.X), max(hi, p.X)
			if !seen[p.X] {
				seen[p.X] = true
				c.XTicks = append(c.XTicks, tick{At: p.X, Label: trimFloat(math.Pow(2, p.X))})
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	pad := max(0.25, (hi-lo)*0.05)
	c.XMin, c.XMax = lo-pad, hi+pad
	step := niceStep(maxY / 5)
	c.YMin, c.YMax = 0, math.Max(step, math.Ceil(maxY*1.1/step)*step)
	for y := 0.0; y <= c.YMax; y += step {
		c.YTicks = append(c.YTicks, tick{At: y, Label: trimFloat(y)})
	}
	c.Series = ss
	return c
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
