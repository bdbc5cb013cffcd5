//! SVG plot primitives for `report.html`: a chart with a linear or log-scaled x axis, a
//! linear y axis from zero, ticks, grid, axis labels, polylines with hover values, vertical
//! timeline marks and a legend. The output is one self-contained `<svg>` element; every
//! text is escaped and non-finite points are dropped, so no `NaN` reaches the markup.

use super::html::escape;
use std::fmt::Write as _;

const WIDTH: f64 = 600.0;
const PLOT_HEIGHT: f64 = 220.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 34.0;
const TOP: f64 = 30.0;
const LEGEND_ROW: f64 = 18.0;
/// Lines with more points than this get invisible hover targets instead of dots.
const MAX_DOTS: usize = 40;
/// Lines with more points than this get no hover targets (keeps the file small).
const MAX_HOVER_POINTS: usize = 400;

/// How an axis maps values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scale {
    /// Proportional.
    Linear,
    /// Proportional to log10 (values must be > 0; others are dropped).
    Log10,
}

/// One axis.
#[derive(Debug, Clone)]
pub(super) struct Axis {
    /// Label under (x) or beside (y) the axis, with its unit.
    pub label: String,
    /// Linear or log.
    pub scale: Scale,
    /// Fixed range; `None` fits the data (linear axes start at 0).
    pub range: Option<(f64, f64)>,
    /// Fixed ticks (value, label); `None` picks round numbers.
    pub ticks: Option<Vec<(f64, String)>>,
}

impl Axis {
    /// A linear axis fitted to the data, from zero.
    pub fn linear(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Linear,
            range: None,
            ticks: None,
        }
    }
}

/// One data series.
#[derive(Debug, Clone)]
pub(super) struct Line {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// Dashed stroke (e.g. service time beside response time).
    pub dashed: bool,
    /// (x, y) in axis units.
    pub points: Vec<(f64, f64)>,
}

/// A whole chart.
#[derive(Debug, Clone)]
pub(super) struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Series.
    pub lines: Vec<Line>,
    /// Vertical marks (x, label), e.g. step starts.
    pub marks: Vec<(f64, String)>,
}

/// Maps axis values to pixels.
struct Map {
    scale: Scale,
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Map {
    fn t(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log10 => v.log10(),
        }
    }

    fn px(&self, v: f64) -> f64 {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        let f = ((self.t(v) - a) / (b - a)).clamp(0.0, 1.0);
        let p = self.from + f * (self.to - self.from);
        if p.is_finite() { p } else { self.from }
    }
}

fn usable(scale: Scale, v: f64) -> bool {
    v.is_finite() && (scale == Scale::Linear || v > 0.0)
}

/// The axis range: fixed, or fitted to the data with 5% headroom; never empty.
fn range(axis: &Axis, values: impl Iterator<Item = f64>) -> (f64, f64) {
    if let Some((lo, hi)) = axis
        .range
        .filter(|(lo, hi)| usable(axis.scale, *lo) && usable(axis.scale, *hi) && hi > lo)
    {
        return (lo, hi);
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| usable(axis.scale, *v)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    match axis.scale {
        Scale::Linear if hi.is_finite() && hi > 0.0 => (0.0, hi * 1.05),
        Scale::Linear => (0.0, 1.0),
        Scale::Log10 if hi.is_finite() && hi > lo => (lo, hi),
        Scale::Log10 if hi.is_finite() => (lo / 10.0, hi * 10.0),
        Scale::Log10 => (1.0, 10.0),
    }
}

/// Round ticks: 1, 2 or 5 × 10^k steps for a linear axis, powers of ten for a log one.
fn auto_ticks(scale: Scale, lo: f64, hi: f64) -> Vec<(f64, String)> {
    match scale {
        Scale::Linear => {
            let raw = (hi - lo) / 5.0;
            let mag = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * mag)
                .find(|s| *s >= raw)
                .unwrap_or(10.0 * mag);
            let decimals = (-step.log10().floor()).max(0.0) as usize;
            let first = (lo / step).ceil() as i64;
            let last = (hi / step).floor() as i64;
            (first..=last.min(first + 20))
                .map(|i| i as f64 * step)
                .map(|v| (v, format!("{v:.decimals$}")))
                .collect()
        }
        Scale::Log10 => {
            let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
            (a..=b.min(a + 20))
                .map(|k| (10f64.powi(k), format_power(k)))
                .collect()
        }
    }
}

fn format_power(k: i32) -> String {
    if (0..=6).contains(&k) {
        format!("{}", 10u64.pow(k as u32))
    } else {
        format!("1e{k}")
    }
}

/// Renders the chart as an `<svg>` element.
pub(super) fn render(c: &Chart) -> String {
    let legend_rows = legend_layout(&c.lines)
        .last()
        .map_or(0, |(_, row, _)| row + 1);
    let height = TOP + PLOT_HEIGHT + 50.0 + legend_rows as f64 * LEGEND_ROW;
    let xs = c.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let ys = c.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (x_lo, x_hi) = range(&c.x, xs.chain(c.marks.iter().map(|m| m.0)));
    let (y_lo, y_hi) = range(&c.y, ys);
    let x = Map {
        scale: c.x.scale,
        lo: x_lo,
        hi: x_hi,
        from: LEFT,
        to: WIDTH - RIGHT,
    };
    let y = Map {
        scale: c.y.scale,
        lo: y_lo,
        hi: y_hi,
        from: TOP + PLOT_HEIGHT,
        to: TOP,
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{}">"#,
        escape(&c.title)
    );
    let _ = write!(
        s,
        r#"<text class="title" x="{LEFT}" y="18">{}</text>"#,
        escape(&c.title)
    );
    axes(&mut s, c, &x, &y);
    marks(&mut s, &c.marks, &x);
    let empty = c.lines.iter().all(|l| l.points.is_empty());
    if empty {
        let _ = write!(
            s,
            r#"<text class="empty" x="{}" y="{}" text-anchor="middle">no data</text>"#,
            (LEFT + WIDTH - RIGHT) / 2.0,
            TOP + PLOT_HEIGHT / 2.0
        );
    }
    for l in &c.lines {
        line(&mut s, l, &x, &y, c.x.scale, c.y.scale);
    }
    legend(&mut s, &c.lines, TOP + PLOT_HEIGHT + 52.0);
    s.push_str("</svg>");
    s
}

fn axes(s: &mut String, c: &Chart, x: &Map, y: &Map) {
    let (bottom, right) = (TOP + PLOT_HEIGHT, WIDTH - RIGHT);
    let xt =
        c.x.ticks
            .clone()
            .unwrap_or_else(|| auto_ticks(c.x.scale, x.lo, x.hi));
    let yt =
        c.y.ticks
            .clone()
            .unwrap_or_else(|| auto_ticks(c.y.scale, y.lo, y.hi));
    for (v, label) in xt.iter().filter(|(v, _)| usable(c.x.scale, *v)) {
        let px = x.px(*v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{bottom}"/><text class="tick" x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#,
            bottom + 14.0,
            escape(label)
        );
    }
    for (v, label) in yt.iter().filter(|(v, _)| usable(c.y.scale, *v)) {
        let py = y.px(*v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" y1="{py:.1}" x2="{right}" y2="{py:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 5.0,
            py + 3.5,
            escape(label)
        );
    }
    let _ = write!(
        s,
        r#"<rect class="frame" x="{LEFT}" y="{TOP}" width="{}" height="{PLOT_HEIGHT}"/><text class="axis" x="{}" y="{}" text-anchor="middle">{}</text><text class="axis" transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        right - LEFT,
        (LEFT + right) / 2.0,
        bottom + 30.0,
        escape(&c.x.label),
        TOP + PLOT_HEIGHT / 2.0,
        escape(&c.y.label)
    );
}

fn marks(s: &mut String, marks: &[(f64, String)], x: &Map) {
    for (v, label) in marks.iter().filter(|(v, _)| v.is_finite()) {
        let px = x.px(*v);
        let _ = write!(
            s,
            r#"<g class="mark"><title>{label}</title><line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{}"/><text transform="translate({:.1} {}) rotate(-90)" text-anchor="end">{label}</text></g>"#,
            TOP + PLOT_HEIGHT,
            px + 3.0,
            TOP + 4.0,
            label = escape(label)
        );
    }
}

fn line(s: &mut String, l: &Line, x: &Map, y: &Map, xs: Scale, ys: Scale) {
    let pts: Vec<(f64, f64, f64, f64)> = l
        .points
        .iter()
        .filter(|(a, b)| usable(xs, *a) && usable(ys, *b))
        .map(|&(a, b)| (a, b, x.px(a), y.px(b)))
        .collect();
    if pts.is_empty() {
        return;
    }
    let coords: Vec<String> = pts
        .iter()
        .map(|p| format!("{:.1},{:.1}", p.2, p.3))
        .collect();
    let dash = if l.dashed {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    let _ = write!(
        s,
        r#"<g class="series"><polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
        l.color,
        coords.join(" ")
    );
    let class = if pts.len() > MAX_DOTS { "hit" } else { "dot" };
    if pts.len() <= MAX_HOVER_POINTS {
        for p in &pts {
            let _ = write!(
                s,
                r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"><title>{}: {} at {}</title></circle>"#,
                p.2,
                p.3,
                l.color,
                escape(&l.name),
                short(p.1),
                short(p.0)
            );
        }
    }
    s.push_str("</g>");
}

/// A value with about three significant figures, for hover text.
fn short(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    format!("{v:.decimals$}")
}

/// (index, row, x offset) of each legend entry, wrapping at the chart's width.
fn legend_layout(lines: &[Line]) -> Vec<(usize, usize, f64)> {
    let (mut row, mut at) = (0, LEFT);
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let w = 34.0 + 7.0 * l.name.chars().count() as f64;
        if at + w > WIDTH - RIGHT && at > LEFT {
            row += 1;
            at = LEFT;
        }
        out.push((i, row, at));
        at += w;
    }
    out
}

fn legend(s: &mut String, lines: &[Line], top: f64) {
    for (i, row, at) in legend_layout(lines) {
        let l = &lines[i];
        let yy = top + row as f64 * LEGEND_ROW;
        let dash = if l.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<line x1="{at:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{}" stroke-width="2"{dash}/><text class="legend" x="{:.1}" y="{:.1}">{}</text>"#,
            at + 22.0,
            l.color,
            at + 27.0,
            yy + 4.0,
            escape(&l.name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(lines: Vec<Line>) -> Chart {
        Chart {
            title: "t <b>".into(),
            x: Axis {
                label: "percentile".into(),
                scale: Scale::Log10,
                range: None,
                ticks: None,
            },
            y: Axis::linear("ms"),
            lines,
            marks: vec![(f64::NAN, "nan".into()), (10.0, "<mark>".into())],
        }
    }

    fn no_nan(svg: &str) {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn empty_data_renders_axes_and_says_so() {
        let svg = render(&chart(Vec::new()));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("no data"));
        no_nan(&svg);
        let lines = vec![Line {
            name: "empty".into(),
            color: "red",
            dashed: false,
            points: Vec::new(),
        }];
        no_nan(&render(&chart(lines)));
    }

    #[test]
    fn hostile_points_and_text_are_dropped_or_escaped() {
        let points = vec![
            (1.0, 2.0),
            (f64::NAN, 1.0),
            (0.0, 1.0),
            (-5.0, 3.0),
            (100.0, f64::INFINITY),
            (1e5, 7.0),
        ];
        let lines = vec![Line {
            name: "a<script>".into(),
            color: "red",
            dashed: true,
            points,
        }];
        let svg = render(&chart(lines));
        no_nan(&svg);
        assert!(!svg.contains("<script>") && !svg.contains("<b>") && !svg.contains("<mark>"));
        assert!(svg.contains("a&lt;script&gt;"));
        // Two usable points: one polyline with two coordinates, two hover circles.
        assert_eq!(svg.matches("<circle").count(), 2);
    }

    #[test]
    fn single_value_and_constant_series_get_a_usable_range() {
        let lines = vec![Line {
            name: "one".into(),
            color: "red",
            dashed: false,
            points: vec![(3.0, 0.0)],
        }];
        let mut c = chart(lines);
        c.x.scale = Scale::Linear;
        let svg = render(&c);
        no_nan(&svg);
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn ticks_are_round() {
        let t = auto_ticks(Scale::Linear, 0.0, 9.3);
        assert_eq!(
            t.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
            ["0", "2", "4", "6", "8"]
        );
        let t = auto_ticks(Scale::Linear, 0.0, 0.042);
        assert_eq!(t[1].1, "0.01");
        let t = auto_ticks(Scale::Log10, 1.0, 1e5);
        assert_eq!(t.len(), 6);
        assert_eq!(t[5].1, "100000");
    }
}
