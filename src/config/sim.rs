//! Configuration of the simulated utility.

use serde::{Deserialize, Serialize};

/// `[simulator]`: the simulated utility served by `heatkpi simulate` and `heatkpi demo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Random seed; the same seed gives the same utility.
    #[serde(default)]
    pub seed: u64,
}
