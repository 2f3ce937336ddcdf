import CCurl

/// One request performed start to finish on one libcurl easy handle, on the calling thread.
///
/// `perform()` blocks for up to `request.timeout`: call it on a thread you own, never on the
/// cooperative pool. The handle is created and destroyed here, so transfers share nothing.
struct CurlTransfer {
    let request: HTTPRequest
    let maxResponseBodyBytes: Int
    let cancellation: CancellationFlag

    /// Runs the transfer and returns the response or the reason there is none.
    func perform() -> Result<HTTPResponse, HTTPError> {
        if let problem = RequestValidation.problem(in: request) {
            return .failure(error(.invalidRequest, message: problem))
        }
        let initCode = CurlGlobal.ensureInitialized()
        guard initCode == CURLE_OK.rawValue else {
            return .failure(error(.other, code: initCode, message: "curl_global_init failed"))
        }
        guard let handle = curl_easy_init() else {
            return .failure(error(.other, message: "curl_easy_init failed"))
        }
        defer { curl_easy_cleanup(handle) }

        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for line in headerLines() {
            guard let appended = curl_slist_append(headerList, line) else {
                return .failure(error(.other, message: "curl_slist_append failed"))
            }
            headerList = appended
        }

        let sink = ResponseSink(maxBodyBytes: maxResponseBodyBytes, cancellation: cancellation)
        let context = Unmanaged.passRetained(sink)
        defer { context.release() }

        var options = OptionSetter(handle: handle)
        options.set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        configure(&options, headerList: headerList, context: context.toOpaque())
        if let failure = options.firstFailure {
            return .failure(error(.invalidRequest, code: failure.code, message: "cannot set \(failure.option)"))
        }

        let code = curl_easy_perform(handle)
        guard code == CURLE_OK else {
            return .failure(failure(code: code, errorBuffer: errorBuffer, sink: sink))
        }

        var status = 0
        _ = sy_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var microseconds: curl_off_t = 0
        _ = sy_curl_getinfo_offset(handle, CURLINFO_TOTAL_TIME_T, &microseconds)
        return .success(
            HTTPResponse(
                status: status, headers: sink.headers, body: sink.body,
                duration: .microseconds(Int64(microseconds))
            )
        )
    }

    /// Every option of the transfer; failures are collected by `options`.
    private func configure(
        _ options: inout OptionSetter,
        headerList: UnsafeMutablePointer<curl_slist>?,
        context: UnsafeMutableRawPointer
    ) {
        options.set(CURLOPT_URL, string: request.url)
        options.set(CURLOPT_PROTOCOLS_STR, string: "http,https")
        // Signals would be process-wide; timeouts still work through curl's own poll loop.
        options.set(CURLOPT_NOSIGNAL, 1)
        options.set(CURLOPT_FOLLOWLOCATION, 0)
        options.set(CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout))
        options.set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout))
        options.set(CURLOPT_MAXFILESIZE_LARGE, offset: curl_off_t(maxResponseBodyBytes))
        options.set(CURLOPT_HTTPHEADER, list: headerList)
        configureMethodAndBody(&options)
        configureTLS(&options)

        options.set(CURLOPT_WRITEDATA, pointer: context)
        options.set(
            CURLOPT_WRITEFUNCTION,
            function: { data, size, count, userdata in
                let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
                let length = size * count
                return sink.appendBody(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
            })
        options.set(CURLOPT_HEADERDATA, pointer: context)
        options.set(
            CURLOPT_HEADERFUNCTION,
            function: { data, size, count, userdata in
                let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
                let length = size * count
                sink.appendHeaderLine(UnsafeRawBufferPointer(start: data, count: length))
                return length
            })
        options.set(CURLOPT_NOPROGRESS, 0)
        options.set(CURLOPT_XFERINFODATA, pointer: context)
        options.set(
            CURLOPT_XFERINFOFUNCTION,
            progress: { userdata, _, _, _, _ in
                let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
                return sink.cancellation.isRaised ? 1 : 0
            })
    }

    private func configureMethodAndBody(_ options: inout OptionSetter) {
        let method = request.method.uppercased()
        switch method {
        case "GET" where request.body.isEmpty:
            options.set(CURLOPT_HTTPGET, 1)
        case "HEAD":
            options.set(CURLOPT_NOBODY, 1)
        default:
            if method == "POST" || !request.body.isEmpty {
                // The size goes first so COPYPOSTFIELDS copies exactly that many bytes, NULs included.
                options.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: curl_off_t(request.body.count))
                if request.body.isEmpty {
                    options.set(CURLOPT_COPYPOSTFIELDS, string: "")
                } else {
                    request.body.withUnsafeBufferPointer { bytes in
                        options.set(
                            CURLOPT_COPYPOSTFIELDS, pointer: UnsafeMutableRawPointer(mutating: bytes.baseAddress!))
                    }
                }
            }
            if method != "POST" { options.set(CURLOPT_CUSTOMREQUEST, string: method) }
        }
    }

    private func configureTLS(_ options: inout OptionSetter) {
        let tls = request.tls
        options.set(CURLOPT_SSL_VERIFYPEER, tls.verify ? 1 : 0)
        options.set(CURLOPT_SSL_VERIFYHOST, tls.verify ? 2 : 0)
        if let caFile = tls.caFile { options.set(CURLOPT_CAINFO, string: caFile) }
        if let certificate = tls.clientCertificate { options.set(CURLOPT_SSLCERT, string: certificate) }
        if let key = tls.clientKey { options.set(CURLOPT_SSLKEY, string: key) }
    }

    /// The caller's headers plus the suppressions: no `Expect: 100-continue` (it costs a round trip
    /// or a one-second stall), and no invented form `Content-Type` when the caller gave none.
    private func headerLines() -> [String] {
        var lines = request.headers.map { header in
            // "Name;" is curl's spelling for a header with an empty value; "Name:" would remove it.
            header.value.isEmpty ? "\(header.name);" : "\(header.name): \(header.value)"
        }
        let names = Set(request.headers.map { $0.name.lowercased() })
        if !names.contains("expect") { lines.append("Expect:") }
        if !names.contains("content-type") { lines.append("Content-Type:") }
        return lines
    }

    /// Whole milliseconds for libcurl, at least 1: a 0 would mean "no timeout".
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let total = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int(max(1, min(total, Int64(Int32.max))))
    }

    func error(_ kind: HTTPError.Kind, code: UInt32 = 0, message: String) -> HTTPError {
        HTTPError(
            kind: kind, curlCode: Int32(truncatingIfNeeded: code), method: request.method, url: request.url,
            message: message)
    }
}
