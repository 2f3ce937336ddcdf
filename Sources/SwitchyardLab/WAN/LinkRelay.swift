import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The user-space WAN of a local deployment (the kernel here has no netem): one loopback listener per
/// link of `wan.json`, relaying each accepted connection to its server with the link's one-way delay,
/// jitter and loss applied per direction, in order. A black-holed link passes nothing and refuses
/// nothing, as a cut link is silent. The file is re-read when it changes, so a drill's link fault takes
/// effect within a fraction of a second.
///
/// The relay terminates TCP on each side, so a client's connect completes at once (the handshake's
/// round trip is not delayed) and loss shows as the delay of a retransmission, as TCP turns it.
public final class LinkRelay: Sendable {
    let links: Mutex<[String: WANLinks.Link]>

    init(_ table: WANLinks) {
        links = Mutex(Dictionary(table.links.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }))
    }

    func current(_ name: String) -> WANLinks.Link? { links.withLock { $0[name] } }

    func update(_ table: WANLinks) {
        links.withLock { current in
            for link in table.links where current[link.name] != nil { current[link.name] = link }
        }
    }

    /// Serves the links of the deployment in `directory` until cancelled.
    public static func serve(directory: String, log: @Sendable (String) -> Void) async throws {
        guard let table = try WANLinks.load(directory: directory) else {
            throw DevError("no \(WANLinks.path(directory)): start the deployment with `dev up --wan PROFILE`")
        }
        let relay = LinkRelay(table)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var servers: [Channel] = []
        for link in table.links {
            let name = link.name
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ClientSide(relay: relay, link: name))
                    }
                }
            servers.append(try await bootstrap.bind(host: "127.0.0.1", port: link.listen).get())
        }
        log("relaying \(table.links.count) links of the \(table.profile) profile")
        // Read again every 100 ms and compared whole (two writes within one mtime tick must not lose a cut
        // or a heal).
        var current = table
        do {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(100))
                if let fresh = try? WANLinks.load(directory: directory), fresh != current {
                    current = fresh
                    relay.update(fresh)
                }
            }
        } catch {}
        for server in servers { try? await server.close() }
        try? await group.shutdownGracefully()
    }

    /// When a chunk that arrives now is delivered across `link`, never before the previous one.
    static func due(_ link: WANProfile.Link, extraMs: Double, after last: NIODeadline) -> NIODeadline {
        var ms = link.delayMs + extraMs
        if link.jitterMs > 0 { ms += Double.random(in: -link.jitterMs...link.jitterMs) }
        if link.lossPercent > 0, Double.random(in: 0..<100) < link.lossPercent { ms += 200 + 2 * link.delayMs }
        let due = NIODeadline.now() + .nanoseconds(Int64(max(0, ms) * 1_000_000))
        return max(due, last + .nanoseconds(1))
    }
}

/// One direction of a relayed connection: what arrives is delivered across the link in order, each
/// chunk after the link's delay. While the link is black-holed, nothing is delivered and nothing is
/// dropped: chunks (and a close) wait, as TCP's retransmissions would, and cross once it heals.
final class Direction {
    enum Item {
        /// The connect to the server (it crosses the link like the first bytes).
        case open
        case data(ByteBuffer)
        case close

        /// Delivers the item to `channel`.
        func apply(to channel: Channel) {
            switch self {
            case .open: break
            case .data(let buffer): channel.writeAndFlush(buffer, promise: nil)
            case .close: channel.close(promise: nil)
            }
        }
    }

    let relay: LinkRelay
    let link: String
    let forward: Bool
    var items: [Item] = []
    var last = NIODeadline.uptimeNanoseconds(0)
    var polling = false
    /// Where the items go (the peer channel, once it exists).
    var deliver: (@Sendable (Item) -> Void)?

    init(relay: LinkRelay, link: String, forward: Bool) {
        self.relay = relay
        self.link = link
        self.forward = forward
    }

    func push(_ item: Item, on loop: EventLoop) {
        items.append(item)
        pump(on: loop)
    }

    /// Sends what waits, unless the link is cut (then looks again in 100 ms).
    func pump(on loop: EventLoop) {
        guard let settings = relay.current(link), let deliver else { return }
        if settings.blackhole {
            guard !polling else { return }
            polling = true
            let bound = NIOLoopBound(self, eventLoop: loop)
            loop.scheduleTask(in: .milliseconds(100)) {
                bound.value.polling = false
                bound.value.pump(on: loop)
            }
            return
        }
        let profile = forward ? settings.forward : settings.backward
        for item in items {
            last = LinkRelay.due(profile, extraMs: settings.extraDelayMs, after: last)
            loop.scheduleTask(deadline: last) { deliver(item) }
        }
        items = []
    }
}

/// The client's side of a relayed connection: connects to the server after the link's forward delay
/// (once the link carries anything) and carries the client's bytes there.
final class ClientSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let relay: LinkRelay
    let link: String
    var toServer: Direction
    var connectAsked = false

    init(relay: LinkRelay, link: String) {
        self.relay = relay
        self.link = link
        toServer = Direction(relay: relay, link: link, forward: true)
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let settings = relay.current(link) else { return }
        let client = context.channel
        let promise = context.eventLoop.makePromise(of: Channel.self)
        let peer = promise.futureResult
        let relay = relay, link = link, port = settings.upstream
        // The connect crosses the link like the first bytes: it waits while the link is cut.
        let connector = Direction(relay: relay, link: link, forward: true)
        connector.deliver = { _ in
            ClientBootstrap(group: client.eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ServerSide(relay: relay, link: link, client: client))
                    }
                }
                .connect(host: "127.0.0.1", port: port)
                .cascade(to: promise)
        }
        connector.push(.open, on: context.eventLoop)
        toServer.deliver = { item in peer.whenSuccess { item.apply(to: $0) } }
        // A server that refuses: the client sees its connection closed (libpq: "server closed the connection").
        peer.whenFailure { _ in client.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        toServer.push(.data(unwrapInboundIn(data)), on: context.eventLoop)
    }

    func channelInactive(context: ChannelHandlerContext) {
        toServer.push(.close, on: context.eventLoop)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// The server's side of a relayed connection: carries the server's bytes back after the link's
/// backward delay.
final class ServerSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let toClient: Direction

    init(relay: LinkRelay, link: String, client: Channel) {
        toClient = Direction(relay: relay, link: link, forward: false)
        toClient.deliver = { $0.apply(to: client) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        toClient.push(.data(unwrapInboundIn(data)), on: context.eventLoop)
    }

    func channelInactive(context: ChannelHandlerContext) {
        toClient.push(.close, on: context.eventLoop)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
