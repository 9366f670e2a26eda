//! False alerts on streams without incidents, per key and day, at several
//! background rates: the figures docs/alerts.md quotes. Slow in a debug
//! build; run with
//! `cargo test --release -p yuqing-spike --test calibration -- --ignored --nocapture`.

mod common;

use common::*;
use yuqing_spike::{AlertState, Detector, DetectorConfig};

/// A daily cycle: 0.03× the peak at 04:00, the peak at 16:00.
fn daily(peak: f64) -> impl Fn(i64) -> f64 {
    move |m: i64| {
        let hour = (m % 1440) as f64 / 60.0;
        let phase = (1.0 - ((hour - 4.0) / 24.0 * std::f64::consts::TAU).cos()) / 2.0;
        peak * (0.03 + 0.97 * phase.powf(1.5))
    }
}

#[test]
#[ignore = "a calibration run of a few minutes; see the module docs"]
fn false_alerts_per_key_day() {
    const DAYS: i64 = 60;
    println!("| background (reports/min) | shape | key-days | false alerts | per key-day |");
    println!("|---|---|---|---|---|");
    let mut worst = 0.0f64;
    for (i, peak) in [0.01, 0.1, 1.0, 10.0, 50.0].into_iter().enumerate() {
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
            let rate = opens as f64 / DAYS as f64;
            worst = worst.max(rate);
            let shape = if seasonal {
                "daily cycle, peak"
            } else {
                "steady"
            };
            println!("| {peak} | {shape} | {DAYS} | {opens} | {rate:.3} |");
        }
    }
    // The budget: about one false alert per category and day over a few
    // hundred keys, so well under 0.01 per key-day.
    assert!(worst < 0.05, "{worst}");
}
