import Synchronization

/// A flag a task sets when it is cancelled and the transfer thread polls from libcurl's progress callback.
final class CancellationFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    /// Asks the transfer to stop at the next progress callback.
    func raise() { raised.store(true, ordering: .relaxed) }

    /// Whether `raise()` has been called.
    var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// Collects one response as libcurl hands it over, on the transfer thread only.
///
/// Reached from the C callbacks through the WRITEDATA / HEADERDATA / XFERINFODATA pointer.
final class ResponseSink {
    let maxBodyBytes: Int
    let cancellation: CancellationFlag
    private(set) var headers: [HTTPHeader] = []
    private(set) var body: [UInt8] = []
    private(set) var bodyTooLarge = false

    init(maxBodyBytes: Int, cancellation: CancellationFlag) {
        self.maxBodyBytes = maxBodyBytes
        self.cancellation = cancellation
    }

    /// Appends body bytes; false (and the transfer aborts) once the cap would be exceeded.
    func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= maxBodyBytes else {
            bodyTooLarge = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// Takes one raw header line, status lines included.
    func appendHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        // Trim bytes, not Characters: "\r\n" is a single Character in Swift.
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        let line = Substring(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self))
        if line.hasPrefix("HTTP/") {
            // A new status line starts a new header block (1xx interim responses come first).
            headers.removeAll()
            return
        }
        guard !line.isEmpty else { return }
        if line.first == " " || line.first == "\t" {
            // Obsolete line folding: the line continues the previous field's value.
            if var previous = headers.popLast() {
                previous.value += " " + line.trimmingWhitespace()
                headers.append(previous)
            }
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimmingWhitespace()
        headers.append(HTTPHeader(name: name, value: value))
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs.
    fileprivate func trimmingWhitespace() -> String {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}
