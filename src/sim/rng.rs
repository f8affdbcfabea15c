//! A small deterministic PRNG (xoshiro256++ seeded by SplitMix64) and noise processes.
//!
//! Our own generator rather than a crate so that the sequence for a seed can never change under
//! us with a dependency update: the ground truth and the history hash of a seed are stable.
//! Every simulated object draws from its own stream (`Rng::new(seed, stream)`), so adding a
//! substation does not shift the weather.

/// SplitMix64 step: used to expand a seed into generator state.
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// The generator for `stream` under `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut x = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let s = [
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
        ];
        Rng { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Approximately standard normal: the Irwin–Hall sum of four uniforms, centred and scaled
    /// to unit variance (bounded at ±3.46). Noise shapes in the simulation need a bell, not
    /// exact tails, and this costs two generator calls instead of a logarithm and a sine.
    pub fn normal(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / 4_294_967_296.0;
        let (a, b) = (self.next_u64(), self.next_u64());
        let sum = ((a >> 32) as f64
            + (a & 0xFFFF_FFFF) as f64
            + (b >> 32) as f64
            + (b & 0xFFFF_FFFF) as f64)
            * SCALE;
        (sum - 2.0) * 3f64.sqrt()
    }
}

/// A first-order autoregressive process with stationary standard deviation `sd` and
/// correlation time `tau_s`, sampled every `dt_s`: the discrete Ornstein–Uhlenbeck process.
/// Weather fronts, demand fluctuations and analyser drift are all of this shape.
#[derive(Debug, Clone)]
pub struct Ar1 {
    x: f64,
    phi: f64,
    innovation: f64,
}

impl Ar1 {
    /// A process started from its stationary distribution.
    pub fn new(rng: &mut Rng, sd: f64, tau_s: f64, dt_s: f64) -> Self {
        let phi = (-dt_s / tau_s.max(1e-9)).exp();
        Ar1 {
            x: sd * rng.normal(),
            phi,
            innovation: sd * (1.0 - phi * phi).sqrt(),
        }
    }

    /// Advance one step and return the new value.
    pub fn step(&mut self, rng: &mut Rng) -> f64 {
        self.x = self.phi * self.x + self.innovation * rng.normal();
        self.x
    }

    /// The current value.
    pub fn value(&self) -> f64 {
        self.x
    }
}

/// `x` moved towards `target` by a first-order lag with time constant `tau_s` over `dt_s`.
pub fn lag(x: f64, target: f64, tau_s: f64, dt_s: f64) -> f64 {
    target + (x - target) * (-dt_s / tau_s.max(1e-9)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(1, 2).next_u64(), Rng::new(1, 3).next_u64());
        assert_ne!(Rng::new(1, 2).next_u64(), Rng::new(2, 2).next_u64());
    }

    #[test]
    fn normal_and_ar1_have_the_right_spread() {
        let mut r = Rng::new(42, 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );

        let mut p = Ar1::new(&mut r, 2.0, 600.0, 60.0);
        let ys: Vec<f64> = (0..n).map(|_| p.step(&mut r)).collect();
        let var = ys.iter().map(|y| y * y).sum::<f64>() / n as f64;
        assert!((var.sqrt() - 2.0).abs() < 0.1, "{}", var.sqrt());
    }

    #[test]
    fn lag_reaches_63_percent_after_one_time_constant() {
        // 1 − e^−1 = 0.632: from 0 towards 100 in one τ.
        assert!((lag(0.0, 100.0, 600.0, 600.0) - 63.212).abs() < 0.001);
    }
}
