//! The SVG chart: throughput (msg/s, log scale) by message size (log scale), one line per
//! system, one panel per transport. plotters' SVG backend writes text as `<text>` elements and,
//! without its `ttf` feature, sizes labels with its built-in estimate, so no system font library
//! is needed to build or run this.

use std::path::Path;

use plotters::prelude::*;

use crate::report::{si, size_label, Median};
use crate::runner::Workload;
use crate::systems::System;

fn color(sys: System) -> RGBColor {
    match sys {
        System::Sockwire => RGBColor(0xd6, 0x27, 0x28),
        System::Libzmq => RGBColor(0x1f, 0x77, 0xb4),
        System::Omq => RGBColor(0x2c, 0xa0, 0x2c),
        System::Zeromq => RGBColor(0xff, 0x7f, 0x0e),
    }
}

/// Draws the throughput chart of `medians` into `path`.
pub fn throughput_svg(
    path: &Path,
    medians: &[Median],
    systems: &[System],
    title: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let thr: Vec<&Median> = medians
        .iter()
        .filter(|m| m.workload == Workload::Thr && m.msgs_per_s.is_finite())
        .collect();
    let mut transports: Vec<&str> = Vec::new();
    for m in &thr {
        if !transports.contains(&m.transport) {
            transports.push(m.transport);
        }
    }
    if thr.is_empty() {
        return Ok(());
    }
    let mut sizes: Vec<f64> = thr.iter().map(|m| m.size as f64).collect();
    sizes.sort_by(|a, b| a.total_cmp(b));
    sizes.dedup();
    let (min_size, max_size) = (sizes[0], sizes[sizes.len() - 1]);
    let lo = thr
        .iter()
        .map(|m| m.msgs_per_s)
        .fold(f64::INFINITY, f64::min);
    let hi = thr.iter().map(|m| m.msgs_per_s).fold(0.0, f64::max);
    let (y_lo, y_hi) = (lo / 2.0, hi * 2.0);

    let panel_w = 460u32;
    let root = SVGBackend::new(path, (panel_w * transports.len() as u32, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(40);
    head.draw(&Text::new(
        title.to_string(),
        (12, 12),
        ("sans-serif", 18).into_font(),
    ))?;
    let panels = body.split_evenly((1, transports.len()));
    for (panel, transport) in panels.iter().zip(&transports) {
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("PUSH -> PULL over {transport}"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (min_size / 1.5..max_size * 1.5)
                    .log_scale()
                    .with_key_points(sizes.clone()),
                (y_lo..y_hi).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("message size")
            .y_desc("msg/s")
            .x_label_formatter(&|x| size_label(x.round() as usize))
            .y_label_formatter(&|y| si(*y))
            .label_style(("sans-serif", 12))
            .draw()?;
        for &sys in systems {
            let mut points: Vec<(f64, f64)> = thr
                .iter()
                .filter(|m| m.system == sys && m.transport == *transport)
                .map(|m| (m.size as f64, m.msgs_per_s))
                .collect();
            if points.is_empty() {
                continue;
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let c = color(sys);
            let width = if sys == System::Sockwire { 3 } else { 2 };
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(width)))?
                .label(sys.label())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(width))
                });
            chart.draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, c.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
