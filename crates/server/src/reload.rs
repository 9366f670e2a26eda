//! Dictionary hot reload as the API sees it: something that compiles the
//! dictionaries again and swaps them in everywhere at once, or keeps the
//! old ones and says what is wrong. The process that owns the dictionaries
//! (the pipeline's `Reloader`) provides it; the server only calls it.

pub use yuqing_lexicon::ReloadReport;

/// Reloads the dictionaries a process runs with (`POST
/// /api/v1/admin/reload`). Blocking: the route calls it off the async
/// threads.
///
/// Any `Fn() -> Result<ReloadReport, String>` is one, so a process hands
/// the server a closure over its own reloader.
pub trait DictionaryReload: Send + Sync {
    /// Compiles the dictionaries and swaps them in; on any error the old
    /// dictionaries keep serving and the error (every problem, with file,
    /// line and column) is returned, to be answered with a 422.
    fn reload(&self) -> Result<ReloadReport, String>;
}

impl<F> DictionaryReload for F
where
    F: Fn() -> Result<ReloadReport, String> + Send + Sync,
{
    fn reload(&self) -> Result<ReloadReport, String> {
        self()
    }
}
