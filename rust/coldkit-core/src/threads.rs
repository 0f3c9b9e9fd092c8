//! Thread pools: `None` = rayon's global pool (all cores), `Some(1)` = no pool at all,
//! `Some(n)` = a cached pool of n threads (built once per n, so repeated calls pay nothing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::CoreError;

/// Requests for more threads than this are refused rather than spawning thousands of threads.
pub const MAX_THREADS: usize = 1024;

/// How a call should run.
pub enum Parallelism {
    /// On the calling thread only.
    Serial,
    /// Inside rayon's global pool (whose size is `threads`).
    Global { threads: usize },
    /// Inside a dedicated pool of `threads` threads.
    Pool { pool: Arc<ThreadPool>, threads: usize },
}

impl Parallelism {
    pub fn threads(&self) -> usize {
        match self {
            Parallelism::Serial => 1,
            Parallelism::Global { threads } | Parallelism::Pool { threads, .. } => *threads,
        }
    }

    /// Run `f` in this context; `f` receives the thread count to plan its split with.
    pub fn run<R: Send>(&self, f: impl FnOnce(usize) -> R + Send) -> R {
        match self {
            Parallelism::Serial => f(1),
            Parallelism::Global { threads } => f(*threads),
            Parallelism::Pool { pool, threads } => pool.install(|| f(*threads)),
        }
    }
}

/// Resolve a user's `threads` argument.
pub fn parallelism(threads: Option<usize>) -> Result<Parallelism, CoreError> {
    match threads {
        None => {
            let threads = rayon::current_num_threads();
            Ok(if threads <= 1 { Parallelism::Serial } else { Parallelism::Global { threads } })
        }
        Some(0) => Err(CoreError::InvalidThreads(0)),
        Some(t) if t > MAX_THREADS => Err(CoreError::InvalidThreads(t)),
        Some(1) => Ok(Parallelism::Serial),
        Some(t) => Ok(Parallelism::Pool { pool: pool(t)?, threads: t }),
    }
}

fn pool(threads: usize) -> Result<Arc<ThreadPool>, CoreError> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    // A poisoned lock only means another thread panicked while inserting; the map is still valid.
    let mut pools = pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = pools.get(&threads) {
        return Ok(Arc::clone(pool));
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("coldkit-{i}"))
        .build()
        .map_err(|e| CoreError::ThreadPool(e.to_string()))?;
    let pool = Arc::new(pool);
    pools.insert(threads, Arc::clone(&pool));
    Ok(pool)
}
