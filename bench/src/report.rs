//! Turns samples into medians per cell, Markdown tables (absolute figures and sockwire/peer
//! ratios), JSON and CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::runner::{Measure, Sample, Workload};
use crate::systems::System;

/// Medians over the repetitions of one cell. Fields that do not apply to the workload are NaN.
#[derive(Clone, Debug)]
pub struct Median {
    pub workload: Workload,
    pub system: System,
    pub transport: &'static str,
    pub size: usize,
    /// Repetitions that succeeded.
    pub ok: usize,
    /// Repetitions that failed, with the first error.
    pub failed: usize,
    pub error: Option<String>,
    pub msgs_per_s: f64,
    pub cpu_us_per_msg: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Median {
    pub fn mb_per_s(&self) -> f64 {
        self.msgs_per_s * self.size as f64 / 1e6
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The order transports appear in: the network one first, as in the tables.
pub fn transport_rank(t: &str) -> usize {
    ["tcp", "ipc", "inproc"]
        .iter()
        .position(|x| *x == t)
        .unwrap_or(usize::MAX)
}

type Key = (Workload, usize, usize, usize);

fn key(s: &Sample) -> Key {
    let sys = System::ALL
        .iter()
        .position(|x| *x == s.cell.system)
        .unwrap_or(0);
    (
        s.cell.workload,
        transport_rank(s.cell.transport),
        s.cell.size,
        sys,
    )
}

/// Medians per cell, in (workload, transport, size, system) order.
pub fn medians(samples: &[Sample]) -> Vec<Median> {
    let mut groups: BTreeMap<Key, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        groups.entry(key(s)).or_default().push(s);
    }
    groups
        .into_values()
        .map(|group| {
            let cell = &group[0].cell;
            let ok: Vec<&Measure> = group
                .iter()
                .filter_map(|s| s.result.as_ref().ok())
                .collect();
            let error = group.iter().find_map(|s| s.result.as_ref().err().cloned());
            let pick = |f: &dyn Fn(&Measure) -> Option<f64>| {
                median(ok.iter().filter_map(|m| f(m)).collect())
            };
            let us = |ns: u64| ns as f64 / 1e3;
            Median {
                workload: cell.workload,
                system: cell.system,
                transport: cell.transport,
                size: cell.size,
                ok: ok.len(),
                failed: group.len() - ok.len(),
                error,
                msgs_per_s: pick(&|m| m.msgs_per_s()),
                cpu_us_per_msg: pick(&|m| Some(m.cpu_us_per_msg())),
                mean_us: pick(&|m| match m {
                    Measure::Lat { mean_ns, .. } => Some(us(*mean_ns)),
                    Measure::Thr { .. } => None,
                }),
                p50_us: pick(&|m| match m {
                    Measure::Lat { p50_ns, .. } => Some(us(*p50_ns)),
                    Measure::Thr { .. } => None,
                }),
                p99_us: pick(&|m| match m {
                    Measure::Lat { p99_ns, .. } => Some(us(*p99_ns)),
                    Measure::Thr { .. } => None,
                }),
            }
        })
        .collect()
}

/// `1.23 M`, `456 k`, `789`.
pub fn si(x: f64) -> String {
    if !x.is_finite() {
        return "err".into();
    }
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

pub fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn ratio(sockwire: f64, peer: f64) -> String {
    if sockwire.is_finite() && peer.is_finite() && peer > 0.0 {
        format!("{:.2}x", sockwire / peer)
    } else {
        "-".into()
    }
}

/// The rows of one table: (transport, size) in first-seen order.
fn rows(medians: &[Median], workload: Workload) -> Vec<(&'static str, usize)> {
    let mut rows: Vec<(&'static str, usize)> = Vec::new();
    for m in medians.iter().filter(|m| m.workload == workload) {
        if !rows.contains(&(m.transport, m.size)) {
            rows.push((m.transport, m.size));
        }
    }
    rows
}

struct Table<'a> {
    medians: &'a [Median],
    systems: &'a [System],
    workload: Workload,
}

impl Table<'_> {
    fn find(&self, sys: System, transport: &str, size: usize) -> Option<&Median> {
        self.medians.iter().find(|m| {
            m.workload == self.workload
                && m.system == sys
                && m.transport == transport
                && m.size == size
        })
    }

    fn peers(&self) -> impl Iterator<Item = System> + '_ {
        self.systems
            .iter()
            .copied()
            .filter(|s| *s != System::Sockwire)
    }

    fn header(&self, out: &mut String, lead: &[&str]) {
        let mut cols: Vec<String> = lead.iter().map(|s| s.to_string()).collect();
        cols.extend(self.systems.iter().map(|s| s.as_str().to_string()));
        if self.systems.contains(&System::Sockwire) {
            cols.extend(self.peers().map(|p| format!("sockwire/{}", p.as_str())));
        }
        let _ = writeln!(out, "| {} |", cols.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            cols.iter().map(|_| " --- |").collect::<String>()
        );
    }

    /// One row: `value` gives a system's figure (NaN if missing) and its text.
    fn row(
        &self,
        out: &mut String,
        lead: &[String],
        transport: &str,
        size: usize,
        value: &dyn Fn(&Median) -> (f64, String),
    ) {
        let mut cols: Vec<String> = lead.to_vec();
        let mut figures = BTreeMap::new();
        for &sys in self.systems {
            let text = if !sys.supports(transport) {
                "n/a".to_string()
            } else {
                match self.find(sys, transport, size) {
                    Some(m) if m.ok > 0 => {
                        let (x, text) = value(m);
                        figures.insert(sys.as_str(), x);
                        text
                    }
                    Some(_) => "failed".to_string(),
                    None => "-".to_string(),
                }
            };
            cols.push(text);
        }
        if self.systems.contains(&System::Sockwire) {
            let sw = figures.get("sockwire").copied().unwrap_or(f64::NAN);
            for p in self.peers() {
                let text = if !p.supports(transport) {
                    "n/a".to_string()
                } else {
                    ratio(sw, figures.get(p.as_str()).copied().unwrap_or(f64::NAN))
                };
                cols.push(text);
            }
        }
        let _ = writeln!(out, "| {} |", cols.join(" | "));
    }
}

/// The Markdown tables of a run.
pub fn tables(medians: &[Median], systems: &[System]) -> String {
    let mut out = String::new();
    let thr = Table {
        medians,
        systems,
        workload: Workload::Thr,
    };
    let thr_rows = rows(medians, Workload::Thr);
    if !thr_rows.is_empty() {
        out.push_str(
            "### Throughput, PUSH -> PULL, msg/s (higher is better; MB/s for 64 KiB and up)\n\n",
        );
        thr.header(&mut out, &["transport", "size"]);
        for &(t, size) in &thr_rows {
            thr.row(
                &mut out,
                &[t.to_string(), size_label(size)],
                t,
                size,
                &|m| {
                    let text = if m.size >= 65_536 {
                        format!("{} ({:.0} MB/s)", si(m.msgs_per_s), m.mb_per_s())
                    } else {
                        si(m.msgs_per_s)
                    };
                    (m.msgs_per_s, text)
                },
            );
        }
        out.push_str(
            "\n### CPU time per message, user + system of both processes, us (lower is better)\n\n",
        );
        thr.header(&mut out, &["transport", "size"]);
        for &(t, size) in &thr_rows {
            thr.row(
                &mut out,
                &[t.to_string(), size_label(size)],
                t,
                size,
                &|m| (m.cpu_us_per_msg, format!("{:.3}", m.cpu_us_per_msg)),
            );
        }
        out.push('\n');
    }
    let lat = Table {
        medians,
        systems,
        workload: Workload::Lat,
    };
    let lat_rows = rows(medians, Workload::Lat);
    if !lat_rows.is_empty() {
        out.push_str("### Latency, REQ/REP round trip, us (lower is better)\n\n");
        lat.header(&mut out, &["transport", "size", "metric"]);
        for &(t, size) in &lat_rows {
            type Metric = fn(&Median) -> f64;
            let metrics: [(&str, Metric); 4] = [
                ("mean", |m| m.mean_us),
                ("p50", |m| m.p50_us),
                ("p99", |m| m.p99_us),
                ("CPU us/rt", |m| m.cpu_us_per_msg),
            ];
            for (name, f) in metrics {
                lat.row(
                    &mut out,
                    &[t.to_string(), size_label(size), name.to_string()],
                    t,
                    size,
                    &|m| (f(m), format!("{:.1}", f(m))),
                );
            }
        }
        out.push('\n');
    }
    let failures: Vec<&Median> = medians.iter().filter(|m| m.failed > 0).collect();
    if !failures.is_empty() {
        out.push_str("### Failed repetitions\n\n");
        for m in failures {
            let _ = writeln!(
                out,
                "- {} {} {} {}: {} of {} failed: {}",
                m.workload.as_str(),
                m.system.as_str(),
                m.transport,
                size_label(m.size),
                m.failed,
                m.failed + m.ok,
                m.error.as_deref().unwrap_or("?")
            );
        }
        out.push('\n');
    }
    out
}

/// How one figure compares: throughput is better higher, latency lower.
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

/// A figure of one successful repetition, by workload.
fn figure(m: &Measure, metric: &str) -> Option<f64> {
    match (m, metric) {
        (Measure::Thr { .. }, "msg/s") => m.msgs_per_s(),
        (Measure::Lat { mean_ns, .. }, "mean") => Some(*mean_ns as f64),
        (Measure::Lat { p99_ns, .. }, "p99") => Some(*p99_ns as f64),
        _ => None,
    }
}

/// sockwire against the better of libzmq and omq.rs, repetition by repetition: the issue's
/// acceptance compares medians, but on a noisy machine a median ratio of 0.95x can hide a
/// cell that sockwire wins in some repetitions and loses in others. Each repetition runs every
/// system one after the other, so the ratio within one repetition compares figures measured
/// moments apart. Empty unless sockwire and a peer ran at least twice.
pub fn per_rep_ratios(samples: &[Sample]) -> String {
    let peers = [System::Libzmq, System::Omq];
    let mut reps: BTreeMap<Key, BTreeMap<usize, BTreeMap<usize, f64>>> = BTreeMap::new();
    let metrics: [(Workload, &str, Better); 3] = [
        (Workload::Thr, "msg/s", Better::Higher),
        (Workload::Lat, "mean", Better::Lower),
        (Workload::Lat, "p99", Better::Lower),
    ];
    let mut out = String::new();
    let mut rows: Vec<String> = Vec::new();
    for (workload, metric, better) in metrics {
        reps.clear();
        for s in samples.iter().filter(|s| s.cell.workload == workload) {
            let Ok(m) = &s.result else { continue };
            let Some(x) = figure(m, metric) else { continue };
            let (w, t, size, sys) = key(s);
            reps.entry((w, t, size, 0))
                .or_default()
                .entry(s.rep)
                .or_default()
                .insert(sys, x);
        }
        let sys_index = |sys: System| System::ALL.iter().position(|x| *x == sys).unwrap_or(0);
        for ((_, t, size, _), by_rep) in &reps {
            let mut ratios: Vec<f64> = Vec::new();
            for figures in by_rep.values() {
                let Some(&sw) = figures.get(&sys_index(System::Sockwire)) else {
                    continue;
                };
                let best = peers
                    .iter()
                    .filter_map(|p| figures.get(&sys_index(*p)).copied())
                    .reduce(|a, b| match better {
                        Better::Higher => a.max(b),
                        Better::Lower => a.min(b),
                    });
                if let Some(best) = best.filter(|b| *b > 0.0) {
                    ratios.push(sw / best);
                }
            }
            if ratios.len() < 2 {
                continue;
            }
            let wins = ratios
                .iter()
                .filter(|r| match better {
                    Better::Higher => **r >= 1.0,
                    Better::Lower => **r <= 1.0,
                })
                .count();
            let n = ratios.len();
            let mid = median(ratios.clone());
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let transport = ["tcp", "ipc", "inproc"].get(*t).copied().unwrap_or("?");
            let label = match workload {
                Workload::Thr => "throughput".to_string(),
                Workload::Lat => format!("latency {metric}"),
            };
            rows.push(format!(
                "| {transport} | {} | {label} | {lo:.2}x | {mid:.2}x | {hi:.2}x | {wins} of {n} |",
                size_label(*size)
            ));
        }
    }
    if rows.is_empty() {
        return out;
    }
    out.push_str(
        "### sockwire / better of libzmq and omq, per repetition (throughput: higher is better; latency: lower)\n\n",
    );
    out.push_str(
        "| transport | size | figure | lowest | median | highest | repetitions sockwire won |\n",
    );
    out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// A ratio to two decimals, or to three where two would round it onto `bar` (so that a
/// "1.00x" never stands beside a miss).
fn near(r: f64, bar: f64) -> String {
    if ((r * 100.0).round() / 100.0 - bar).abs() < 1e-9 && (r - bar).abs() > 1e-12 {
        format!("{r:.3}x")
    } else {
        format!("{r:.2}x")
    }
}

/// One figure of a cell's medians.
type Figure = fn(&Median) -> f64;

/// Issue 4's acceptance targets, checked against this run's medians: one row per target and
/// cell, with the figure and "met" or "miss". Targets whose cells did not run are left out;
/// memory (`idle-peers`) is measured by another program. Latency targets hold for the pinned
/// and the unpinned run alike, so each run checks its own.
pub fn targets(medians: &[Median]) -> String {
    let find = |w: Workload, sys: System, t: &str, size: usize| {
        medians
            .iter()
            .find(|m| m.workload == w && m.system == sys && m.transport == t && m.size == size)
            .filter(|m| m.ok > 0)
    };
    let verdict = |ok: bool| if ok { "met" } else { "**miss**" };
    let mut rows: Vec<String> = Vec::new();
    // The better of libzmq and omq.rs for one figure; names the peer.
    let best_peer =
        |w: Workload, t: &str, size: usize, f: &dyn Fn(&Median) -> f64, higher: bool| {
            [System::Libzmq, System::Omq]
                .into_iter()
                .filter_map(|p| find(w, p, t, size).map(|m| (p, f(m))))
                .filter(|(_, x)| x.is_finite() && *x > 0.0)
                .reduce(|a, b| if (b.1 > a.1) == higher { b } else { a })
        };
    for t in ["tcp", "ipc"] {
        for size in [8, 64, 1024] {
            let Some(sw) = find(Workload::Thr, System::Sockwire, t, size) else {
                continue;
            };
            let Some((peer, x)) = best_peer(Workload::Thr, t, size, &|m| m.msgs_per_s, true) else {
                continue;
            };
            let r = sw.msgs_per_s / x;
            rows.push(format!(
                "| throughput >= 1.0x the better peer | {t} {} | {} of {} ({}) | {} |",
                size_label(size),
                near(r, 1.0),
                peer.as_str(),
                si(x),
                verdict(r >= 1.0)
            ));
        }
        for size in [65_536, 1 << 20] {
            let Some(sw) = find(Workload::Thr, System::Sockwire, t, size) else {
                continue;
            };
            let ratio = |p| find(Workload::Thr, p, t, size).map(|m| sw.msgs_per_s / m.msgs_per_s);
            let (lz, omq) = (ratio(System::Libzmq), ratio(System::Omq));
            if lz.is_none() && omq.is_none() {
                continue;
            }
            let show = |r: Option<f64>, bar| r.map_or("-".to_string(), |r| near(r, bar));
            let ok = lz.is_none_or(|r| r >= 1.3) && omq.is_none_or(|r| r >= 1.0);
            rows.push(format!(
                "| throughput >= 1.3x libzmq and >= 1.0x omq.rs | {t} {} | {} / {} | {} |",
                size_label(size),
                show(lz, 1.3),
                show(omq, 1.0),
                verdict(ok)
            ));
        }
    }
    for t in ["tcp", "ipc"] {
        for size in [8, 1024] {
            let Some(sw) = find(Workload::Lat, System::Sockwire, t, size) else {
                continue;
            };
            let metrics: [(&str, Figure); 2] = [("mean", |m| m.mean_us), ("p99", |m| m.p99_us)];
            for (name, f) in metrics {
                let Some((peer, x)) = best_peer(Workload::Lat, t, size, &f, false) else {
                    continue;
                };
                let r = f(sw) / x;
                rows.push(format!(
                    "| {name} latency <= 1.0x the better peer | {t} {} | {} of {} ({x:.1} us) | {} |",
                    size_label(size),
                    near(r, 1.0),
                    peer.as_str(),
                    verdict(r <= 1.0)
                ));
            }
        }
    }
    if let (Some(sw), Some(lz)) = (
        find(Workload::Thr, System::Sockwire, "tcp", 64),
        find(Workload::Thr, System::Libzmq, "tcp", 64),
    ) {
        let r = sw.cpu_us_per_msg / lz.cpu_us_per_msg;
        rows.push(format!(
            "| CPU per message <= libzmq's | tcp 64 B | {} ({:.3} against {:.3} us) | {} |",
            near(r, 1.0),
            sw.cpu_us_per_msg,
            lz.cpu_us_per_msg,
            verdict(r <= 1.0)
        ));
    }
    if let Some(sw) = find(Workload::Thr, System::Sockwire, "inproc", 64) {
        let lz = find(Workload::Thr, System::Libzmq, "inproc", 64).map_or(0.0, |m| m.msgs_per_s);
        let goal = lz.max(20e6);
        rows.push(format!(
            "| inproc throughput >= max(20 M, libzmq) | inproc 64 B | {} against {} | {} |",
            si(sw.msgs_per_s),
            si(goal),
            verdict(sw.msgs_per_s >= goal)
        ));
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "### Against issue 4's targets (medians of this run)\n\n| target | cell | sockwire | verdict |\n| --- | --- | --- | --- |\n",
    );
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out.push('\n');
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

/// Everything as JSON: run facts, every sample, the medians.
pub fn json(meta: &[(String, String)], samples: &[Sample], medians: &[Median]) -> String {
    let mut out = String::from("{\n  \"meta\": {");
    let fields: Vec<String> = meta
        .iter()
        .map(|(k, v)| format!("\n    {}: {}", json_str(k), json_str(v)))
        .collect();
    out.push_str(&fields.join(","));
    out.push_str("\n  },\n  \"samples\": [");
    let rows: Vec<String> = samples
        .iter()
        .map(|s| {
            let c = &s.cell;
            let head = format!(
                "\"workload\": {}, \"system\": {}, \"transport\": {}, \"size\": {}, \"rep\": {}",
                json_str(c.workload.as_str()),
                json_str(c.system.as_str()),
                json_str(c.transport),
                c.size,
                s.rep
            );
            let body = match &s.result {
                Ok(Measure::Thr {
                    count,
                    elapsed_ns,
                    cpu_us,
                }) => format!(
                    "\"count\": {count}, \"elapsed_ns\": {elapsed_ns}, \"cpu_us\": {cpu_us}, \"msgs_per_s\": {}",
                    json_num(s.result.as_ref().ok().and_then(Measure::msgs_per_s).unwrap_or(f64::NAN))
                ),
                Ok(Measure::Lat {
                    count,
                    mean_ns,
                    p50_ns,
                    p99_ns,
                    cpu_us,
                }) => format!(
                    "\"count\": {count}, \"mean_ns\": {mean_ns}, \"p50_ns\": {p50_ns}, \"p99_ns\": {p99_ns}, \"cpu_us\": {cpu_us}"
                ),
                Err(e) => format!("\"error\": {}", json_str(e)),
            };
            format!("\n    {{{head}, {body}}}")
        })
        .collect();
    out.push_str(&rows.join(","));
    out.push_str("\n  ],\n  \"medians\": [");
    let rows: Vec<String> = medians
        .iter()
        .map(|m| {
            format!(
                "\n    {{\"workload\": {}, \"system\": {}, \"transport\": {}, \"size\": {}, \"ok\": {}, \"failed\": {}, \"msgs_per_s\": {}, \"mb_per_s\": {}, \"cpu_us_per_msg\": {}, \"mean_us\": {}, \"p50_us\": {}, \"p99_us\": {}}}",
                json_str(m.workload.as_str()),
                json_str(m.system.as_str()),
                json_str(m.transport),
                m.size,
                m.ok,
                m.failed,
                json_num(m.msgs_per_s),
                json_num(m.mb_per_s()),
                json_num(m.cpu_us_per_msg),
                json_num(m.mean_us),
                json_num(m.p50_us),
                json_num(m.p99_us),
            )
        })
        .collect();
    out.push_str(&rows.join(","));
    out.push_str("\n  ]\n}\n");
    out
}

/// The medians as CSV, one row per cell.
pub fn csv(medians: &[Median]) -> String {
    let mut out = String::from(
        "workload,system,transport,size,ok,failed,msgs_per_s,mb_per_s,cpu_us_per_msg,mean_us,p50_us,p99_us\n",
    );
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            String::new()
        }
    };
    for m in medians {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            m.workload.as_str(),
            m.system.as_str(),
            m.transport,
            m.size,
            m.ok,
            m.failed,
            num(m.msgs_per_s),
            num(m.mb_per_s()),
            num(m.cpu_us_per_msg),
            num(m.mean_us),
            num(m.p50_us),
            num(m.p99_us),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Cell;

    fn thr(system: System, rep: usize, msgs: u64) -> Sample {
        Sample {
            cell: Cell {
                workload: Workload::Thr,
                system,
                transport: "tcp",
                size: 8,
                count: msgs,
                warmup: 0,
            },
            rep,
            // `msgs` messages in one second.
            result: Ok(Measure::Thr {
                count: msgs,
                elapsed_ns: 1_000_000_000,
                cpu_us: 1,
            }),
        }
    }

    #[test]
    fn per_rep_ratios_compare_with_the_better_peer_of_each_repetition() {
        let samples = vec![
            // Rep 0: omq is the better peer; sockwire wins 1.10x.
            thr(System::Sockwire, 0, 1100),
            thr(System::Libzmq, 0, 900),
            thr(System::Omq, 0, 1000),
            // Rep 1: libzmq is the better peer; sockwire loses 0.80x.
            thr(System::Sockwire, 1, 800),
            thr(System::Libzmq, 1, 1000),
            thr(System::Omq, 1, 500),
            // Rep 2: a failed sockwire run counts for nothing.
            Sample {
                result: Err("boom".into()),
                ..thr(System::Sockwire, 2, 1)
            },
            thr(System::Libzmq, 2, 1000),
        ];
        let table = per_rep_ratios(&samples);
        assert!(
            table.contains("| tcp | 8 B | throughput | 0.80x | 0.95x | 1.10x | 1 of 2 |"),
            "{table}"
        );
        // One usable repetition is no spread at all: no table.
        assert_eq!(per_rep_ratios(&samples[..3]), "");
    }

    fn median_of(w: Workload, system: System, transport: &'static str, size: usize) -> Median {
        Median {
            workload: w,
            system,
            transport,
            size,
            ok: 1,
            failed: 0,
            error: None,
            msgs_per_s: f64::NAN,
            cpu_us_per_msg: f64::NAN,
            mean_us: f64::NAN,
            p50_us: f64::NAN,
            p99_us: f64::NAN,
        }
    }

    #[test]
    fn targets_compare_each_cell_with_its_own_bar() {
        let thr = |system, transport, size, rate: f64, cpu: f64| Median {
            msgs_per_s: rate,
            cpu_us_per_msg: cpu,
            ..median_of(Workload::Thr, system, transport, size)
        };
        let lat = |system, mean: f64, p99: f64| Median {
            mean_us: mean,
            p99_us: p99,
            ..median_of(Workload::Lat, system, "ipc", 8)
        };
        let medians = vec![
            // 64 B over tcp: omq.rs is the better peer and sockwire beats it; CPU above libzmq.
            thr(System::Sockwire, "tcp", 64, 6e6, 0.40),
            thr(System::Libzmq, "tcp", 64, 4e6, 0.36),
            thr(System::Omq, "tcp", 64, 5e6, 0.50),
            // 1 MiB over ipc: 2x libzmq but under omq.rs.
            thr(System::Sockwire, "ipc", 1 << 20, 5000.0, 1.0),
            thr(System::Libzmq, "ipc", 1 << 20, 2500.0, 1.0),
            thr(System::Omq, "ipc", 1 << 20, 5500.0, 1.0),
            // Round trips: sockwire's mean is better than libzmq's (the better peer), its p99
            // worse than omq.rs's (the better one there).
            lat(System::Sockwire, 10.0, 30.0),
            lat(System::Libzmq, 20.0, 40.0),
            lat(System::Omq, 25.0, 20.0),
            // 64 B over ipc: a hair under omq.rs, which two decimals would round to the bar.
            thr(System::Sockwire, "ipc", 64, 4.98e6, 0.4),
            thr(System::Omq, "ipc", 64, 5e6, 0.4),
            // inproc: above libzmq but under 20 M.
            thr(System::Sockwire, "inproc", 64, 9e6, 0.2),
            thr(System::Libzmq, "inproc", 64, 5e6, 0.3),
        ];
        let t = targets(&medians);
        for row in [
            "| throughput >= 1.0x the better peer | tcp 64 B | 1.20x of omq (5.00 M) | met |",
            "| throughput >= 1.3x libzmq and >= 1.0x omq.rs | ipc 1 MiB | 2.00x / 0.91x | **miss** |",
            "| mean latency <= 1.0x the better peer | ipc 8 B | 0.50x of libzmq (20.0 us) | met |",
            "| p99 latency <= 1.0x the better peer | ipc 8 B | 1.50x of omq (20.0 us) | **miss** |",
            "| CPU per message <= libzmq's | tcp 64 B | 1.11x (0.400 against 0.360 us) | **miss** |",
            "| inproc throughput >= max(20 M, libzmq) | inproc 64 B | 9.00 M against 20.00 M | **miss** |",
            "| throughput >= 1.0x the better peer | ipc 64 B | 0.996x of omq (5.00 M) | **miss** |",
        ] {
            assert!(t.contains(row), "missing {row}\n{t}");
        }
        // Cells that did not run make no rows.
        assert!(!t.contains("tcp 8 B"), "{t}");
        assert_eq!(targets(&[]), "");
    }
}
