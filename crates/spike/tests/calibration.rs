//! Calibration, run by hand (slow in a debug build):
//! `cargo test --release -p yuqing-spike --test calibration -- --ignored --nocapture`.
//!
//! - `minimum_counts`: the fewest independent reports each window needs
//!   to open an alert, for the category as a whole and for one region, at
//!   several baselines: the table in docs/alerts.md.
//! - `false_alerts_per_key_day`: alerts opened on generated Poisson streams
//!   without incidents, steady and with a daily cycle, for the category as
//!   a whole: what the budget's share for it comes to in practice.

mod common;

use common::*;
use yuqing_spike::{AlertState, Detector, DetectorConfig, Key};

/// A daily cycle: 0.03× the peak at 04:00, the peak at 16:00.
fn daily(peak: f64) -> impl Fn(i64) -> f64 {
    move |m: i64| {
        let hour = (m % 1440) as f64 / 60.0;
        let phase = (1.0 - ((hour - 4.0) / 24.0 * std::f64::consts::TAU).cos()) / 2.0;
        peak * (0.03 + 0.97 * phase.powf(1.5))
    }
}

#[test]
#[ignore = "prints the calibration table; see the module docs"]
fn minimum_counts() {
    let config = DetectorConfig::default();
    // The shipped gazetteer's size: 464 regions (34 provinces and the
    // divisions below them).
    let mut parents = std::collections::HashMap::new();
    for i in 0..430 {
        parents.insert(format!("p{i}"), format!("v{}", i % 34));
    }
    let d = Detector::new(config.clone(), parents);
    let windows = d.windows_secs();
    let head: Vec<String> = windows.iter().map(|w| format!("{} min", w / 60)).collect();
    println!("| key | baseline (reports/min) | {} |", head.join(" | "));
    println!("|---|---:|{}", "---:|".repeat(windows.len()));
    for (name, region) in [("category", None), ("one region", Some("p1".to_string()))] {
        let key = Key {
            category: "fire".into(),
            region,
        };
        for mu in [config.baseline_floor, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0, 10.0] {
            let counts: Vec<String> = windows
                .iter()
                .map(|w| {
                    d.minimum_count(&key, mu, *w)
                        .map_or("-".into(), |c| c.to_string())
                })
                .collect();
            println!("| {name} | {mu} | {} |", counts.join(" | "));
        }
    }
}

#[test]
#[ignore = "a calibration run of a few minutes; see the module docs"]
fn false_alerts_per_key_day() {
    const DAYS: i64 = 30;
    println!("| background (reports/min) | shape | key-days | false alerts | per key-day |");
    println!("|---|---|---|---|---|");
    let mut total = 0usize;
    for (i, peak) in [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
        .into_iter()
        .enumerate()
    {
        for seasonal in [false, true] {
            let mut s = Stream::new(100 + i as u64 * 2 + u64::from(seasonal));
            if seasonal {
                s.steady(0, DAYS * 1440, "fire", daily(peak));
            } else {
                s.steady(0, DAYS * 1440, "fire", |_| peak);
            }
            let posts = s.sorted();
            let mut d = Detector::new(DetectorConfig::default(), parents());
            let emitted = run(&mut d, &posts);
            let opens = emitted
                .iter()
                .filter(|e| e.alert.state == AlertState::Open)
                .count();
            total += opens;
            let shape = if seasonal {
                "daily cycle, peak"
            } else {
                "steady"
            };
            println!(
                "| {peak} | {shape} | {DAYS} | {opens} | {:.3} |",
                opens as f64 / DAYS as f64
            );
        }
    }
    // The category as a whole has half the budget (0.25 a day by
    // default): on Poisson streams it uses less.
    let per_day = total as f64 / (16 * DAYS) as f64;
    println!("all: {total} in {} key-days: {per_day:.3} a day", 16 * DAYS);
    assert!(per_day < 0.25, "{per_day}");
}
