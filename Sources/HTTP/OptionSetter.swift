import CCurl

/// Typed `curl_easy_setopt` calls that remember the first failure instead of checking each one.
struct OptionSetter {
    /// The option that failed first and its code.
    struct Failure {
        var option: UInt32
        var code: UInt32
    }

    let handle: UnsafeMutableRawPointer
    private(set) var firstFailure: Failure?

    init(handle: UnsafeMutableRawPointer) {
        self.handle = handle
    }

    mutating func set(_ option: CURLoption, _ value: Int) {
        record(option, sy_curl_setopt_long(handle, option, value))
    }

    mutating func set(_ option: CURLoption, string: String) {
        record(option, sy_curl_setopt_string(handle, option, string))
    }

    mutating func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) {
        record(option, sy_curl_setopt_pointer(handle, option, pointer))
    }

    mutating func set(_ option: CURLoption, offset: curl_off_t) {
        record(option, sy_curl_setopt_offset(handle, option, offset))
    }

    mutating func set(_ option: CURLoption, list: UnsafeMutablePointer<curl_slist>?) {
        record(option, sy_curl_setopt_slist(handle, option, list))
    }

    mutating func set(_ option: CURLoption, function: sy_curl_data_callback) {
        record(option, sy_curl_setopt_datafn(handle, option, function))
    }

    mutating func set(_ option: CURLoption, progress: sy_curl_xferinfo_callback) {
        record(option, sy_curl_setopt_xferinfofn(handle, option, progress))
    }

    private mutating func record(_ option: CURLoption, _ code: CURLcode) {
        if code != CURLE_OK && firstFailure == nil {
            firstFailure = Failure(option: option.rawValue, code: code.rawValue)
        }
    }
}
