//! Faults a source can be given, at start or at run time: latency, error
//! answers, answers held far past any deadline, and outages.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LatencyShape {
    #[default]
    Uniform,
    /// Most answers near the geometric mean of min and max, a long tail
    /// towards max.
    LogNormal,
}

/// A source's faults. Every field has a default, so `{}` is "no faults".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer latency, `[min, max]` in ms.
    pub latency_ms: [u64; 2],
    pub latency_shape: LatencyShape,
    /// Share of calls answered with an error.
    pub error_rate: f64,
    /// Share of calls whose answer is held `hold_ms`.
    pub timeout_rate: f64,
    /// The source is down: connections are closed without an answer.
    pub outage: bool,
    /// How long a "timed out" answer is held, in ms.
    pub hold_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: [1, 5],
            latency_shape: LatencyShape::Uniform,
            error_rate: 0.0,
            timeout_rate: 0.0,
            outage: false,
            hold_ms: 30_000,
        }
    }
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Close the connection without answering.
    Close,
    /// Answer with an error, after the latency.
    Error(Duration),
    /// Answer normally after this long.
    Answer(Duration),
}

impl Faults {
    /// No faults and no latency (tests).
    pub fn none() -> Faults {
        Faults {
            latency_ms: [0, 0],
            ..Faults::default()
        }
    }

    /// Why these faults cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let [lo, hi] = self.latency_ms;
        if lo > hi {
            return Some(format!("latency_ms: min {lo} is above max {hi}"));
        }
        if hi > 600_000 || self.hold_ms > 3_600_000 {
            return Some("latency_ms and hold_ms must be at most 10 minutes and 1 hour".into());
        }
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Some(format!("{name} must be between 0 and 1, not {v}"));
            }
        }
        None
    }

    /// The plan for one call, from three uniform numbers in `[0, 1)`.
    pub fn plan(&self, u: [f64; 3]) -> Plan {
        if self.outage {
            return Plan::Close;
        }
        let latency = Duration::from_millis(self.latency(u[1], u[2]));
        if u[0] < self.error_rate {
            Plan::Error(latency)
        } else if u[0] < self.error_rate + self.timeout_rate {
            Plan::Answer(Duration::from_millis(self.hold_ms).max(latency))
        } else {
            Plan::Answer(latency)
        }
    }

    fn latency(&self, u1: f64, u2: f64) -> u64 {
        let [lo, hi] = self.latency_ms;
        if hi == lo {
            return lo;
        }
        match self.latency_shape {
            LatencyShape::Uniform => lo + ((hi - lo + 1) as f64 * u1) as u64,
            LatencyShape::LogNormal => {
                let (a, b) = ((lo.max(1)) as f64, hi as f64);
                let median = (a * b).sqrt();
                let sigma = (b / a).ln() / 4.0;
                let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (median * (sigma * z).exp()).clamp(lo as f64, b) as u64
            }
        }
        .min(hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_the_rates() {
        let f = Faults {
            error_rate: 0.1,
            timeout_rate: 0.2,
            latency_ms: [20, 500],
            hold_ms: 9_000,
            ..Faults::default()
        };
        assert!(matches!(f.plan([0.05, 0.5, 0.5]), Plan::Error(_)));
        assert_eq!(
            f.plan([0.25, 0.5, 0.5]),
            Plan::Answer(Duration::from_millis(9_000))
        );
        match f.plan([0.5, 0.0, 0.5]) {
            Plan::Answer(d) => assert_eq!(d, Duration::from_millis(20)),
            p => panic!("{p:?}"),
        }
        match f.plan([0.5, 0.999_999, 0.5]) {
            Plan::Answer(d) => assert_eq!(d, Duration::from_millis(500)),
            p => panic!("{p:?}"),
        }
        let down = Faults {
            outage: true,
            ..Faults::none()
        };
        assert_eq!(down.plan([0.9, 0.1, 0.1]), Plan::Close);
        assert_eq!(
            Faults::none().plan([0.9, 0.3, 0.3]),
            Plan::Answer(Duration::ZERO)
        );
    }

    #[test]
    fn log_normal_latency_stays_in_range_and_centres_low() {
        let f = Faults {
            latency_ms: [20, 500],
            latency_shape: LatencyShape::LogNormal,
            ..Faults::default()
        };
        let mut below_median = 0;
        for i in 0..1000 {
            let u1 = (i as f64 + 0.5) / 1000.0;
            let u2 = ((i * 7919) % 1000) as f64 / 1000.0;
            let ms = f.latency(u1, u2);
            assert!((20..=500).contains(&ms), "{ms}");
            if ms < 100 {
                below_median += 1;
            }
        }
        assert!((350..=650).contains(&below_median), "{below_median}");
    }

    #[test]
    fn bad_faults_are_refused() {
        assert!(
            Faults {
                latency_ms: [9, 1],
                ..Faults::none()
            }
            .problem()
            .is_some()
        );
        assert!(
            Faults {
                error_rate: 1.5,
                ..Faults::none()
            }
            .problem()
            .is_some()
        );
        assert!(Faults::default().problem().is_none());
        let parsed: Faults = serde_json::from_str(r#"{"error_rate":1.0}"#).unwrap();
        assert_eq!(parsed.error_rate, 1.0);
        assert!(serde_json::from_str::<Faults>(r#"{"eror_rate":1.0}"#).is_err());
    }
}
