import Foundation
import Logging
import ServiceLifecycle
import SwitchyardRuntime
import Synchronization
import Testing

/// The shutdown signal the daemons' loops wait on, and the service-lifecycle wiring that raises it.
@Suite("Daemon lifecycle")
struct LifecycleTests {
    /// Runs `body`, failing the test if it has not returned within `limit` (it would otherwise hang).
    func returns(within limit: Duration, _ what: String, _ body: @escaping @Sendable () async -> Void) async {
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await body()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(finished, "\(what) did not return within \(limit)")
    }

    @Test func sleepAndWaitReturnWhenShutdownIsRaised() async {
        let shutdown = ShutdownSignal()
        #expect(!shutdown.requested)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.returns(within: .seconds(30), "an hour's sleep") { await shutdown.sleep(.seconds(3600)) }
            }
            group.addTask { await self.returns(within: .seconds(30), "wait") { await shutdown.wait() } }
            // Raised from another task once both are waiting (or before: they then return at once).
            group.addTask {
                try? await Task.sleep(for: .milliseconds(100))
                shutdown.trigger()
            }
        }
        #expect(shutdown.requested)
        // Raised already: neither waits.
        await returns(within: .seconds(30), "a sleep after the trigger") { await shutdown.sleep(.seconds(3600)) }
        await returns(within: .seconds(30), "a wait after the trigger") { await shutdown.wait() }
    }

    @Test func aCancelledWaitReturnsAndTheSignalStillWorks() async {
        let shutdown = ShutdownSignal()
        await returns(within: .seconds(30), "a cancelled wait") {
            let waiting = Task { await shutdown.wait() }
            waiting.cancel()
            await waiting.value
        }
        // A sleep ends on its own without the signal.
        await returns(within: .seconds(30), "a 50 ms sleep") { await shutdown.sleep(.milliseconds(50)) }
        #expect(!shutdown.requested)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.returns(within: .seconds(30), "a wait after a cancelled one") { await shutdown.wait() }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(100))
                shutdown.trigger()
            }
        }
    }

    /// A doorbell wakes whoever took its signal before the ring, however late they start waiting, and a signal
    /// taken after a ring waits for the next one: the refresh loop writes a state change at once, with no poll.
    @Test func aDoorbellWakesWhoeverTookItsSignalBeforeTheRing() async {
        let bell = Doorbell()
        let early = bell.next
        bell.ring()
        await returns(within: .seconds(30), "a wait on a signal taken before the ring") { await early.wait() }
        let late = bell.next
        #expect(!late.requested, "a signal taken after a ring must wait for the next one")
        final class Flag: Sendable { let value = Mutex(false) }
        let woke = Flag()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.returns(within: .seconds(30), "a wait for the next ring") {
                    await late.wait()
                    woke.value.withLock { $0 = true }
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(100))
                // Whenever this runs, the waiter cannot have woken: nothing has rung since it took its signal.
                #expect(!woke.value.withLock { $0 })
                bell.ring()
            }
        }
        #expect(woke.value.withLock { $0 })
    }

    /// A service group's graceful shutdown (what SIGTERM and SIGINT start in the daemons; the test
    /// runner's own signal handlers make a real signal unusable here, and the binary's SIGTERM hand-off
    /// is `ExecTests`') reaches a `DaemonService` as its shutdown signal: the service winds down and
    /// the group returns.
    @Test func aGracefulShutdownOfTheGroupRaisesTheDaemonsSignal() async throws {
        let shutdown = ShutdownSignal()
        let stage = Mutex("starting")
        let service = DaemonService(shutdown: shutdown) {
            stage.withLock { $0 = "running" }
            await shutdown.wait()
            stage.withLock { $0 = "stopped gracefully" }
        }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: service)], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(30)
        while stage.withLock({ $0 }) != "running" && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(stage.withLock { $0 } == "running")
        await group.triggerGracefulShutdown()
        await returns(within: .seconds(30), "the service group") { _ = try? await running.value }
        #expect(shutdown.requested)
        #expect(stage.withLock { $0 } == "stopped gracefully")
    }
}
