//! Provides `Rate`: DRF's `num/period` syntax, plus multi-unit periods such as `5/10m`.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub num_requests: u64,
    /// Window length in seconds.
    pub duration: f64,
}

impl FromStr for Rate {
    type Err = String;

    /// `100/min`, `5/10m`, `3/s`, `1000/day`: the unit is read from its first letter, as DRF does.
    fn from_str(value: &str) -> Result<Rate, String> {
        let (num, period) = value
            .split_once('/')
            .ok_or_else(|| format!("{value:?} is not num/period"))?;
        let num_requests = num
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{num:?} is not a number of requests"))?;
        let period = period.trim();
        let digits = period.chars().take_while(char::is_ascii_digit).count();
        let multiplier = if digits == 0 {
            1
        } else {
            period[..digits]
                .parse::<u64>()
                .map_err(|_| format!("{period:?} has a bad multiplier"))?
        };
        let unit = match period[digits..].chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(format!("{period:?} is not a period (s, m, h, d)")),
        };
        if num_requests == 0 || multiplier == 0 {
            return Err(format!(
                "{value:?} allows nothing; remove the throttle instead"
            ));
        }
        let seconds = multiplier
            .checked_mul(unit)
            .ok_or_else(|| format!("{period:?} is too long a period"))?;
        Ok(Rate {
            num_requests,
            duration: seconds as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> (u64, f64) {
        let r: Rate = s.parse().unwrap();
        (r.num_requests, r.duration)
    }

    #[test]
    fn drf_rates_parse() {
        assert_eq!(rate("100/min"), (100, 60.0));
        assert_eq!(rate("3/s"), (3, 1.0));
        assert_eq!(rate("1000/day"), (1000, 86_400.0));
        assert_eq!(rate("10/hour"), (10, 3600.0));
    }

    #[test]
    fn multi_unit_periods_parse() {
        assert_eq!(rate("5/10m"), (5, 600.0));
        assert_eq!(rate("1/30s"), (1, 30.0));
    }

    #[test]
    fn bad_rates_are_errors() {
        for bad in [
            "",
            "5",
            "x/min",
            "5/",
            "5/10",
            "5/week",
            "0/min",
            "5/0m",
            "-1/s",
            "1/307445734561825861m",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}
