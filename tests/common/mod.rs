//! Helpers shared by integration tests.
#![allow(dead_code)]

/// The address of a third-party peer from the environment (written by `tests/peers/start.sh`),
/// or `None` with a printed reason. With `HEATKPI_REQUIRE_PEERS=1` a missing peer fails.
pub fn peer(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("HEATKPI_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!(
                    "{var} is not set but HEATKPI_REQUIRE_PEERS=1: start the peers with tests/peers/start.sh"
                );
            }
            eprintln!(
                "skipped: {var} not set (start the peers with tests/peers/start.sh and source its env file)"
            );
            None
        }
    }
}
