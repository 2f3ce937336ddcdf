import SwitchyardLab
import SwitchyardRuntime

/// Tests call the never-answering listener by this name.
public typealias SilentListener = SilentPort

extension Ports {
    /// A loopback port with nothing listening (for refused connections).
    public static func freeLoopbackPortForTests() throws -> Int { try freeLoopbackPort() }
}
