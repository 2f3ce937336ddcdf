import CCurl

extension CurlTransfer {
    /// The error for a failed `curl_easy_perform`, with libcurl's detailed message when it left one.
    func failure(code: CURLcode, errorBuffer: UnsafePointer<CChar>, sink: ResponseSink) -> HTTPError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        if sink.bodyTooLarge || code == CURLE_FILESIZE_EXCEEDED {
            return error(
                .responseTooLarge, code: code.rawValue,
                message: "response body larger than \(maxResponseBodyBytes) bytes"
            )
        }
        if code == CURLE_ABORTED_BY_CALLBACK && cancellation.isRaised {
            return error(.cancelled, code: code.rawValue, message: "the request was cancelled")
        }
        return error(Self.kind(of: code), code: code.rawValue, message: message)
    }

    /// How a `CURLcode` reads to a caller deciding whether to retry.
    static func kind(of code: CURLcode) -> HTTPError.Kind {
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            .timeout
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            .connect
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
            CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, CURLE_USE_SSL_FAILED:
            .tls
        case CURLE_WEIRD_SERVER_REPLY, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
            CURLE_BAD_CONTENT_ENCODING, CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_HTTP3,
            // The scheme was checked before the transfer, so this is the server answering HTTP/0.9.
            CURLE_UNSUPPORTED_PROTOCOL:
            .malformedResponse
        case CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT:
            .invalidRequest
        default:
            .other
        }
    }
}
