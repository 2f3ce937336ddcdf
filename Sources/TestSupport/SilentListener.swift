import Foundation
import SwitchyardRuntime

/// A TCP listener on 127.0.0.1 that accepts connections and never answers: the loopback stand-in
/// for an unreachable or hung server.
public final class SilentListener: Sendable {
    /// The listening port.
    public let port: Int
    private let fd: Int32

    /// Binds port 0 and listens; the kernel completes handshakes, nobody ever reads.
    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Stops listening.
    public func close() { Glibc.close(fd) }
}

extension Ports {
    /// A loopback port with nothing listening (for refused connections).
    public static func freeLoopbackPortForTests() throws -> Int { try freeLoopbackPort() }
}
