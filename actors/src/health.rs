//! Readiness: named checks that must all pass for `/readyz` to answer 200.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Check = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// The process's readiness. Components register checks (NATS connected, database answers,
/// consumers bound); [`Readiness::set_draining`] makes the process unready at once, before
/// the drain starts, so load balancers and orchestrators stop sending work first.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<Vec<(String, Check)>>>,
    draining: Arc<AtomicBool>,
}

/// Result of one readiness evaluation.
#[derive(Debug, Clone)]
pub struct ReadinessReport {
    pub ready: bool,
    pub draining: bool,
    /// (check name, error if it failed)
    pub checks: Vec<(String, Option<String>)>,
}

impl Readiness {
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Adds a named check; it must answer within 2 s or counts as failed.
    pub fn add_check<F, Fut>(&self, name: &str, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let check: Check = Arc::new(move || Box::pin(check()));
        if let Ok(mut checks) = self.checks.write() {
            checks.push((name.to_string(), check));
        }
    }

    /// A check backed by a flag, e.g. "consumer bound"; returns the setter.
    pub fn add_flag(&self, name: &str) -> ReadyFlag {
        let flag = ReadyFlag(Arc::new(AtomicBool::new(false)));
        let probe = flag.clone();
        let label = name.to_string();
        self.add_check(name, move || {
            let ok = probe.0.load(Ordering::Acquire);
            let label = label.clone();
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(format!("{label}: not yet"))
                }
            }
        });
        flag
    }

    /// A check that passes until a component reports a fault it cannot recover from (a
    /// failed migration, a refused permission): then `/readyz` answers 503 with the reason.
    pub fn add_fault(&self, name: &str) -> Fault {
        let fault = Fault(Arc::new(Mutex::new(None)));
        let probe = fault.clone();
        self.add_check(name, move || {
            let reason = probe.reason();
            async move { reason.map_or(Ok(()), Err) }
        });
        fault
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub async fn evaluate(&self) -> ReadinessReport {
        let checks: Vec<(String, Check)> =
            self.checks.read().map(|c| c.clone()).unwrap_or_default();
        let mut results = Vec::with_capacity(checks.len());
        for (name, check) in checks {
            let outcome = match tokio::time::timeout(Duration::from_secs(2), check()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("timed out after 2 s".to_string()),
            };
            results.push((name, outcome));
        }
        let draining = self.is_draining();
        let ready = !draining && results.iter().all(|(_, e)| e.is_none());
        ReadinessReport {
            ready,
            draining,
            checks: results,
        }
    }
}

/// Setter of a flag-backed readiness check.
#[derive(Clone, Debug)]
pub struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }
}

/// Setter of a fault-backed readiness check (see [`Readiness::add_fault`]).
#[derive(Clone, Debug)]
pub struct Fault(Arc<Mutex<Option<String>>>);

impl Fault {
    /// Makes the check fail with `reason` from now on.
    pub fn set(&self, reason: impl Into<String>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(reason.into());
        }
    }

    /// The reason reported, if any.
    pub fn reason(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fault_makes_the_process_unready_with_its_reason() {
        let readiness = Readiness::new();
        let fault = readiness.add_fault("writer");
        assert!(readiness.evaluate().await.ready);
        fault.set("database migration failed: no permission");
        let report = readiness.evaluate().await;
        assert!(!report.ready);
        assert_eq!(
            report.checks,
            vec![(
                "writer".to_string(),
                Some("database migration failed: no permission".to_string())
            )]
        );
    }
}
