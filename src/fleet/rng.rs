//! Per-user pseudo-random streams: every virtual user draws its think times, arrivals,
//! partners and message sizes from its own stream, derived from the suite `seed` and the
//! user's global index, so a rerun with the same seed replays each user's sequence.
//!
//! The generator (xoshiro256++ seeded through splitmix64) and the sampling below are
//! written out here rather than taken from `rand`: `rand` documents neither `SmallRng` nor
//! its distributions as stable across releases, and a recorded seed must keep meaning the
//! same sequence after a dependency upgrade.

/// One step of splitmix64 (Steele, Lea, Flood 2014): advances `state` and returns a
/// well-mixed word. Used to expand seeds, never as the stream itself.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A user's stream: xoshiro256++ (Blackman, Vigna 2019).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRng {
    s: [u64; 4],
}

impl UserRng {
    /// The stream of user `index` (its global index across fleets) under `seed`. Distinct
    /// indices give unrelated streams: the index is mixed into the seed before expansion.
    pub fn new(seed: u64, index: u64) -> Self {
        let mut k = seed;
        let mut state = splitmix64(&mut k) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut s = [0u64; 4];
        for w in &mut s {
            *w = splitmix64(&mut state);
        }
        // The all-zero state is the one xoshiro cannot leave; splitmix64 never yields four
        // zeros in a row, but the guard costs nothing.
        if s == [0; 4] {
            s[0] = 1;
        }
        Self { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// A uniform number in `[0, 1)` with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform number in `(0, 1]`: safe to take the logarithm of.
    pub fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)` (0 when `n` is 0), without modulo bias (Lemire's
    /// multiply-and-reject).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// A standard normal deviate (Box–Muller; the second value is discarded so that each
    /// draw consumes a fixed number of words).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = self.open_unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// An exponential deviate with mean 1.
    pub fn standard_exponential(&mut self) -> f64 {
        -self.open_unit().ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_index_give_the_same_stream() {
        let mut a = UserRng::new(7, 3);
        let mut b = UserRng::new(7, 3);
        let xs: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn seed_and_index_both_change_the_stream() {
        let first = |seed, index| UserRng::new(seed, index).next_u64();
        assert_ne!(first(7, 3), first(8, 3));
        assert_ne!(first(7, 3), first(7, 4));
        assert_ne!(first(0, 0), first(0, 1));
    }

    #[test]
    fn the_stream_is_pinned() {
        // A recorded seed must keep its meaning: this pins the algorithm.
        let mut r = UserRng::new(1, 0);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, PINNED.to_vec(), "xoshiro256++/splitmix64 changed");
    }

    /// Computed by an independent implementation (Python) of the same two algorithms.
    const PINNED: [u64; 3] = [
        0x7045_60ce_d7cc_0501,
        0x4eef_9003_6c89_c53a,
        0xdce0_5af2_ba13_64d7,
    ];

    #[test]
    fn splitmix64_matches_its_reference() {
        let mut s = 0;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn ranges_hold() {
        let mut r = UserRng::new(42, 9);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            let o = r.open_unit();
            assert!(o > 0.0 && o <= 1.0);
            assert!(r.below(7) < 7);
            assert!(r.standard_exponential() >= 0.0);
            assert!(r.standard_normal().is_finite());
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }
}
