import CCurl

/// The result of `curl_global_init`, run exactly once.
///
/// Swift initialises globals lazily under `swift_once`, so the first transfer on any thread runs
/// the init and every other thread waits for it: `curl_global_init` is not thread-safe itself.
private let globalInitCode: UInt32 = sy_curl_global_init_default().rawValue

enum CurlGlobal {
    /// Initialises libcurl on first use; returns the init's `CURLcode` (0 on success).
    static func ensureInitialized() -> UInt32 {
        globalInitCode
    }
}
