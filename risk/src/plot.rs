//! ROC and precision–recall curves as SVG: one line per scorer on unit axes, written by the
//! evaluation command for docs/risk.md (plain SVG text, as the load bench draws its plots).

use std::fmt::Write;

const SIZE: f64 = 360.0;
const MARGIN: f64 = 48.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#d62728", "#ff7f0e",
];

/// One curve: its name and its points on [0, 1] × [0, 1].
pub struct Curve<'a> {
    /// The legend's text.
    pub name: String,
    /// The points, in drawing order.
    pub points: &'a [(f64, f64)],
}

/// An SVG of `curves` with `title` and axis labels; `diagonal` draws the chance line.
pub fn unit_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
    diagonal: bool,
) -> String {
    let total = SIZE + 2.0 * MARGIN;
    let legend = 18.0 * curves.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        w = total + 200.0,
        h = total.max(MARGIN + legend + 20.0)
    );
    let px = |x: f64| MARGIN + x.clamp(0.0, 1.0) * SIZE;
    let py = |y: f64| MARGIN + (1.0 - y.clamp(0.0, 1.0)) * SIZE;
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">{}</text>",
        MARGIN + SIZE / 2.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        "<rect x=\"{MARGIN}\" y=\"{MARGIN}\" width=\"{SIZE}\" height=\"{SIZE}\" fill=\"none\" stroke=\"#444\"/>"
    );
    for tick in 0..=4 {
        let v = f64::from(tick) / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v:.2}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>",
            px(v),
            MARGIN + SIZE + 16.0,
            MARGIN - 6.0,
            py(v) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n<text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{}</text>",
        MARGIN + SIZE / 2.0,
        MARGIN + SIZE + 36.0,
        escape(x_label),
        MARGIN + SIZE / 2.0,
        MARGIN + SIZE / 2.0,
        escape(y_label)
    );
    if diagonal {
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>",
            px(0.0),
            py(0.0),
            px(1.0),
            py(1.0)
        );
    }
    for (i, curve) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = curve
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let y = MARGIN + 12.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"{x}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"3\"/>\n<text x=\"{tx}\" y=\"{ty}\">{}</text>",
            escape(&curve.name),
            x = MARGIN + SIZE + 12.0,
            x2 = MARGIN + SIZE + 32.0,
            tx = MARGIN + SIZE + 38.0,
            ty = y + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plot_has_one_polyline_per_curve_within_its_axes() {
        let a = [(0.0, 0.0), (0.5, 0.9), (1.0, 1.0)];
        let b = [(0.0, 0.0), (1.0, 1.0)];
        let svg = unit_plot(
            "ROC <test>",
            "false positives",
            "true positives",
            &[
                Curve {
                    name: "kNN & co".into(),
                    points: &a,
                },
                Curve {
                    name: "rule".into(),
                    points: &b,
                },
            ],
            true,
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("ROC &lt;test&gt;") && svg.contains("kNN &amp; co"));
        // (0.5, 0.9) lands inside the frame: x = 48 + 180, y = 48 + 0.1 × 360.
        assert!(svg.contains("228.0,84.0"), "{svg}");
        assert!(svg.ends_with("</svg>\n"));
    }
}
