//! `--workers N`: a supervisor process that binds the sockets and runs N
//! copies of the program as workers, which inherit them.
//!
//! Each worker is the same executable with the same arguments and
//! `RGI_WORKER_FDS` naming the inherited descriptors; it runs its own
//! lifespan and makes the sockets listen once its startup completed, so
//! nothing listens before at least one worker is ready. The kernel hands
//! each connection to one of the workers accepting on the shared socket;
//! a connection queued on it is not lost when a worker dies, another one
//! accepts it.
//!
//! The supervisor restarts a worker that dies (after a second's pause if
//! it died young, so a crash loop does not spin), stops everything when a
//! worker reports a failed startup (exit status 3: restarting would fail
//! the same way), and passes SIGTERM and Ctrl-C on to the workers as
//! SIGTERM, waiting for their graceful shutdown.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::future::select_all;
use tokio::process::{Child, Command};

use super::BoundSocket;
use crate::cli::{EXIT_STARTUP_FAILED, WORKER_FDS_ENV};

/// A worker that lived less than this is restarted after a pause.
const YOUNG: Duration = Duration::from_secs(5);
const RESTART_PAUSE: Duration = Duration::from_secs(1);

struct Worker {
    child: Child,
    started: Instant,
}

/// Runs `count` workers on `sockets` until a shutdown signal; returns the
/// supervisor's exit status.
pub(crate) fn supervise(sockets: Vec<BoundSocket>, count: usize, drain: Duration) -> ExitCode {
    let fds = match sockets
        .iter()
        .map(|s| s.inheritable_fd().map(|fd| fd.to_string()))
        .collect::<std::io::Result<Vec<_>>>()
    {
        Ok(fds) => fds.join(","),
        Err(e) => {
            eprintln!("error: cannot pass the sockets to workers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the supervisor's runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let status = runtime.block_on(run(&fds, count, drain));
    // The sockets stay open until every worker is gone.
    drop(sockets);
    status
}

fn spawn(fds: &str, index: usize) -> std::io::Result<Worker> {
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(WORKER_FDS_ENV, fds)
        .env("RGI_WORKER_INDEX", index.to_string())
        .kill_on_drop(true)
        .spawn()?;
    tracing::info!(worker = index, pid = child.id(), "worker started");
    Ok(Worker {
        child,
        started: Instant::now(),
    })
}

async fn run(fds: &str, count: usize, drain: Duration) -> ExitCode {
    tracing::info!(
        workers = count,
        pid = std::process::id(),
        "supervisor started"
    );
    let mut workers = Vec::with_capacity(count);
    for index in 0..count {
        match spawn(fds, index) {
            Ok(worker) => workers.push(worker),
            Err(e) => {
                eprintln!("error: cannot start worker {index}: {e}");
                stop(&mut workers, drain).await;
                return ExitCode::FAILURE;
            }
        }
    }
    let mut signal = std::pin::pin!(crate::server::shutdown_signal());
    let status = loop {
        let exited = select_all(workers.iter_mut().map(|w| Box::pin(w.child.wait())));
        let (index, status) = tokio::select! {
            () = &mut signal => break ExitCode::SUCCESS,
            (status, index, _) = exited => (index, status),
        };
        let lived = workers[index].started.elapsed();
        match status {
            Ok(status) if status.code() == Some(i32::from(EXIT_STARTUP_FAILED)) => {
                eprintln!("error: worker {index} failed its lifespan startup; stopping");
                break ExitCode::from(EXIT_STARTUP_FAILED);
            }
            Ok(status) => {
                tracing::error!(worker = index, %status, ?lived, "worker died; restarting it")
            }
            Err(e) => tracing::error!(worker = index, error = %e, "worker lost; restarting it"),
        }
        if lived < YOUNG {
            tokio::select! {
                () = &mut signal => break ExitCode::SUCCESS,
                () = tokio::time::sleep(RESTART_PAUSE) => {}
            }
        }
        match spawn(fds, index) {
            Ok(worker) => workers[index] = worker,
            Err(e) => {
                eprintln!("error: cannot restart worker {index}: {e}");
                break ExitCode::FAILURE;
            }
        }
    };
    stop(&mut workers, drain).await;
    status
}

/// SIGTERM to every worker, then waits for them (their drain, plus a
/// margin for lifespan shutdown); a worker still running after that is
/// killed.
async fn stop(workers: &mut [Worker], drain: Duration) {
    for worker in workers.iter() {
        if let Some(pid) = worker.child.id() {
            let _ = rgi_fd::terminate(pid);
        }
    }
    let all = futures_util::future::join_all(workers.iter_mut().map(|w| w.child.wait()));
    if tokio::time::timeout(drain * 2 + Duration::from_secs(5), all)
        .await
        .is_err()
    {
        tracing::warn!("workers did not stop in time: killing them");
        for worker in workers.iter_mut() {
            let _ = worker.child.kill().await;
        }
    }
    tracing::info!("supervisor stopped");
}
