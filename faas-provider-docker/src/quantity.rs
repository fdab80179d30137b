//! Kubernetes resource quantities (`128Mi`, `100m`, `0.5`, `1e3`) turned into what Swarm
//! wants: bytes of memory and NanoCPUs. Exact decimal arithmetic, rounding up, no floats.

use crate::error::DockerError;

/// A parsed quantity: `digits × 10^exp10 × 2^exp2`.
struct Quantity {
    digits: i128,
    exp10: i32,
    exp2: u32,
}

fn parse(field: &str, value: &str) -> Result<Quantity, DockerError> {
    let bad = || {
        DockerError::invalid(
            field,
            format!("quantity {value:?} is not a valid resource quantity (e.g. 128Mi, 100m, 0.5)"),
        )
    };
    let s = value.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let end = s
        .bytes()
        .position(|c| !(c.is_ascii_digit() || c == b'.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return Err(bad());
    }
    let mut digits: i128 = 0;
    for c in int.bytes().chain(frac.bytes()) {
        digits = digits
            .checked_mul(10)
            .and_then(|d| d.checked_add(i128::from(c - b'0')))
            .ok_or_else(bad)?;
    }
    let frac_len = i32::try_from(frac.len()).map_err(|_| bad())?;
    let (exp10, exp2) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        exp => {
            let rest = exp.strip_prefix(['e', 'E']).ok_or_else(bad)?;
            (rest.parse::<i32>().map_err(|_| bad())?, 0)
        }
    };
    Ok(Quantity {
        digits,
        exp10: exp10 - frac_len,
        exp2,
    })
}

impl Quantity {
    /// The value scaled by `10^scale`, rounded up to an integer.
    fn scaled(&self, field: &str, value: &str, scale: i32) -> Result<i64, DockerError> {
        let too_big = || DockerError::invalid(field, format!("quantity {value:?} is too large"));
        let mut n = self
            .digits
            .checked_mul(1i128 << self.exp2.min(100))
            .ok_or_else(too_big)?;
        let exp = self.exp10 + scale;
        if exp >= 0 {
            let factor = 10i128.checked_pow(exp.unsigned_abs()).ok_or_else(too_big)?;
            n = n.checked_mul(factor).ok_or_else(too_big)?;
        } else {
            match 10i128.checked_pow(exp.unsigned_abs()) {
                Some(div) => n = (n + div - 1) / div,
                // Divided by more than i128 can hold: any non-zero value rounds up to 1.
                None => n = i128::from(n > 0),
            }
        }
        i64::try_from(n).map_err(|_| too_big())
    }
}

/// Memory in bytes. Kubernetes quantities, rounded up to a whole byte; as in faas-swarm (Docker
/// units), a bare lowercase `m` suffix means mebibytes, not milli-bytes (`128m` = 128 MiB).
pub fn memory_bytes(field: &str, value: &str) -> Result<i64, DockerError> {
    if let Some(number) = value.trim().strip_suffix('m')
        && !number.is_empty()
        && number.bytes().all(|c| c.is_ascii_digit() || c == b'.')
    {
        return parse(field, &format!("{number}Mi"))?.scaled(field, value, 0);
    }
    parse(field, value)?.scaled(field, value, 0)
}

/// CPUs in NanoCPUs (1 CPU = 10⁹): `100m` → 100 000 000, `0.5` → 500 000 000, `2` → 2 × 10⁹.
pub fn nano_cpus(field: &str, value: &str) -> Result<i64, DockerError> {
    parse(field, value)?.scaled(field, value, 9)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(memory_bytes("m", "128Mi").unwrap(), 128 << 20);
        assert_eq!(memory_bytes("m", "1Gi").unwrap(), 1 << 30);
        assert_eq!(memory_bytes("m", "64M").unwrap(), 64_000_000);
        assert_eq!(memory_bytes("m", "1.5Gi").unwrap(), 3 << 29);
        assert_eq!(memory_bytes("m", "128m").unwrap(), 128 << 20);
        assert_eq!(memory_bytes("m", "1e6").unwrap(), 1_000_000);
        assert_eq!(memory_bytes("m", "1000").unwrap(), 1000);
        assert_eq!(memory_bytes("m", "2k").unwrap(), 2000);
    }

    #[test]
    fn cpu_quantities_become_nano_cpus() {
        assert_eq!(nano_cpus("c", "100m").unwrap(), 100_000_000);
        assert_eq!(nano_cpus("c", "0.5").unwrap(), 500_000_000);
        assert_eq!(nano_cpus("c", "2").unwrap(), 2_000_000_000);
        assert_eq!(nano_cpus("c", "1500m").unwrap(), 1_500_000_000);
        assert_eq!(nano_cpus("c", "250u").unwrap(), 250_000);
        assert_eq!(nano_cpus("c", "1n").unwrap(), 1);
        assert_eq!(nano_cpus("c", "0.0000000001").unwrap(), 1, "rounds up");
    }

    #[test]
    fn bad_quantities_name_the_field() {
        for bad in ["", "abc", "1.2.3", "12X", "1e", "."] {
            match nano_cpus("limits.cpu", bad) {
                Err(DockerError::Invalid { field, .. }) => assert_eq!(field, "limits.cpu"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(memory_bytes("limits.memory", "1e300").is_err());
        assert!(memory_bytes("limits.memory", "99999999999Ei").is_err());
    }
}
