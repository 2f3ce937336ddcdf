import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// A TCP listener on 127.0.0.1 that accepts connections (in the kernel) and never answers: the
/// loopback stand-in for a hung or black-holed server, in tests and benchmarks.
public final class SilentPort: Sendable {
    /// The listening port.
    public let port: Int
    private let fd: Int32

    /// Binds port 0 and listens with a deep backlog; nobody ever reads.
    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = Ports.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 4096) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Stops listening.
    public func close() { Glibc.close(fd) }
}
