public import NetlinkPush
public import ServiceLifecycle

/// A subscription (or a responder) as a swift-service-lifecycle `Service`: run it in a
/// `ServiceGroup`, next to the application's other services.
///
/// ``run()`` subscribes, hands every item to the handler, one at a time and in order,
/// and returns once graceful shutdown is triggered: the subscription stops receiving
/// at once (its reader thread exits, its sockets close and the kernel drops the
/// registration), the items it had already received are still handled (at most
/// ``SubscriptionOptions/bufferCapacity``), then ``run()`` returns. Cancelling its task
/// (the group's cancellation) ends it after the item in hand, dropping the rest. A
/// daemon that must not miss events across a restart keeps the ``Event/seq`` and
/// ``Event/epoch`` of the last one it handled and resumes from there
/// (``init(channel:name:from:epoch:options:handler:)``).
///
/// ```swift
/// let service = SubscriptionService(channel: channel, name: "audit") { item, subscription in
///     if case .event(let event) = item {
///         print(event.seq, event.payload.count)
///         try await subscription.ack(event)
///     }
/// }
/// let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
///
/// An error thrown by the handler, or by the subscription (see ``Subscription/Events``),
/// ends ``run()`` with that error; the group then decides (by default it shuts down
/// the other services too).
public struct SubscriptionService: Service {
    /// What the service does with each item; `subscription` is the running one, for
    /// ``Subscription/ack(_:status:reply:)``.
    public typealias Handler = @Sendable (_ item: SubscriptionItem, _ subscription: Subscription) async throws -> Void

    /// A responder's answer to a request: ``Subscription/ack(_:status:reply:)``'s
    /// `status` and `reply`.
    public struct Answer: Sendable, Hashable {
        /// The status the requester gets (``Reply/status``).
        public var status: Int32
        /// The reply payload (at most 61440 bytes), if any.
        public var reply: [UInt8]?

        /// An answer with `status` and an optional `reply` payload.
        public init(status: Int32, reply: [UInt8]? = nil) {
            self.status = status
            self.reply = reply
        }
    }

    private let channel: NetlinkPushChannel
    private let name: String
    private let options: SubscriptionOptions
    private let resume: (seq: UInt64, epoch: UInt64?)?
    private let handler: Handler

    /// A service that subscribes as `name` and hands every item to `handler`.
    ///
    /// - Parameters:
    ///   - channel: the channel to subscribe on.
    ///   - name: the subscriber's name (1 to 31 bytes).
    ///   - options: as for ``NetlinkPushChannel/subscribe(name:options:)``.
    ///   - handler: called for each item, in order; the next item waits for it.
    public init(
        channel: NetlinkPushChannel, name: String, options: SubscriptionOptions = .init(),
        handler: @escaping Handler
    ) {
        self.channel = channel
        self.name = name
        self.options = options
        self.resume = nil
        self.handler = handler
    }

    /// A service that resumes after the event `seq`
    /// (``NetlinkPushChannel/subscribe(name:from:epoch:options:)``) and hands every item
    /// to `handler`.
    public init(
        channel: NetlinkPushChannel, name: String, from seq: UInt64, epoch: UInt64?,
        options: SubscriptionOptions = .init(), handler: @escaping Handler
    ) {
        self.channel = channel
        self.name = name
        self.options = options
        self.resume = (seq, epoch)
        self.handler = handler
    }

    /// A responder (``SubscriptionOptions/responder``): `answer` is called for every
    /// request (an event with ``Event/wantsReply``) and its ``Answer`` is sent back;
    /// `onItem`, if given, gets every other item (plain events, loss and connection
    /// notices). A request `answer` throws for is not answered (the requester gets
    /// `ETIMEDOUT` at its timeout) and ends the service with the error.
    public static func responder(
        channel: NetlinkPushChannel, name: String, options: SubscriptionOptions = .init(),
        answer: @escaping @Sendable (_ request: Event) async throws -> Answer,
        onItem: Handler? = nil
    ) -> SubscriptionService {
        var o = options
        o.responder = true
        return SubscriptionService(channel: channel, name: name, options: o) { item, subscription in
            if case .event(let event) = item, event.wantsReply {
                let a = try await answer(event)
                try await subscription.ack(event, status: a.status, reply: a.reply)
            } else if let onItem {
                try await onItem(item, subscription)
            }
        }
    }

    /// Subscribes and handles items until graceful shutdown, cancellation, or an error.
    ///
    /// - Throws: what ``NetlinkPushChannel/subscribe(name:options:)`` throws, the
    ///   subscription's failure (``NetlinkPushError``), or the handler's error.
    public func run() async throws {
        let subscription =
            if let resume {
                try channel.subscribe(name: name, from: resume.seq, epoch: resume.epoch, options: options)
            } else {
                try channel.subscribe(name: name, options: options)
            }
        let handler = handler
        // cancel() stops the reader at once; the loop ends once it handled what was
        // already buffered (then next() returns nil).
        try await withGracefulShutdownHandler {
            for try await item in subscription.events {
                try await handler(item, subscription)
            }
        } onGracefulShutdown: {
            subscription.cancel()
        }
    }
}
