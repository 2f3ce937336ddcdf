import Foundation
import Redis
import SwitchyardCore

/// Connects to a region's Redis as configured: a URL, or the master Sentinel reports.
public enum RedisConnector {
    /// The endpoint to use now (asks Sentinel when configured).
    public static func endpoint(
        for config: RedisConfig, environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Duration = .seconds(1)
    ) async throws -> RedisEndpoint {
        switch config.connection {
        case .url(let url):
            return try RedisEndpoint(url: url.text)
        case .sentinel(let sentinel):
            let password = sentinel.passwordEnv.flatMap { environment[$0] }
            let sentinels = sentinel.addresses.map { RedisEndpoint(address: .tcp(host: $0.host, port: $0.port)) }
            let master = try await RedisConnection.lookupMaster(
                sentinels: sentinels, masterName: sentinel.master, timeout: timeout)
            return RedisEndpoint(address: master, password: password)
        }
    }

    /// A new connection to the region's Redis.
    public static func connect(
        _ config: RedisConfig, timeout: Duration = .seconds(1), commandTimeout: Duration = .seconds(2),
        name: String = "redis"
    ) async throws -> RedisConnection {
        try await RedisConnection.connect(
            endpoint(for: config, timeout: timeout), timeout: timeout, commandTimeout: commandTimeout, name: name)
    }
}
