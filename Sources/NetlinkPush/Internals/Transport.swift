// The seam between the library's logic (reader, control I/O, recovery, reconnect) and
// the kernel: netlink messages as bytes, datagrams, multicast groups, family
// resolution and a descriptor to poll. ``LibnlTransport`` is the real one (libnl and
// raw sockets); the `NetlinkPushTesting` library provides an in-memory kernel that
// speaks the same bytes, so every decoder and state machine above runs unchanged in
// host tests. `package`: visible to the targets of this package, never public API.

/// What a ``TransportSocket`` is opened for; the transport applies the socket options
/// that role needs.
package enum SocketRole: Sendable, Hashable {
    /// Requests out and answers in, read by the control I/O thread: non-blocking,
    /// extended ACKs, a receive buffer of `receiveBufferSize` bytes (a default when nil).
    case control(receiveBufferSize: Int?)
    /// Joins the events group, read by a subscription's reader thread: a receive
    /// buffer of `receiveBufferSize` bytes, broadcast errors reported to the sender.
    case events(receiveBufferSize: Int)
}

/// The nlpush family as resolved at one module load.
package struct FamilyInfo: Sendable, Equatable {
    /// Generic netlink family id (the `nlmsg_type` of its messages).
    package var id: UInt16
    /// The version the family registered with.
    package var version: UInt8
    /// Multicast group id of the `events` group.
    package var eventsGroup: Int32

    package init(id: UInt16, version: UInt8, eventsGroup: Int32) {
        self.id = id
        self.version = version
        self.eventsGroup = eventsGroup
    }
}

/// A control request ready to go out: what it is, the family and the netlink sequence
/// number it carries. The real transport builds it with libnl; others take its bytes.
package struct OutgoingRequest {
    let request: ControlRequest
    /// The `nlmsg_type` (family id) the request goes to.
    package let familyID: UInt16
    /// The `nlmsg_seq` its answer will carry.
    package let seq: UInt32

    /// The whole netlink message (nlmsghdr, genlmsghdr, attributes), with `portID` as
    /// `nlmsg_pid`.
    package func encoded(portID: UInt32) -> [UInt8] {
        request.encode(familyID: familyID, seq: seq, portID: portID)
    }
}

/// What one receive of a single datagram got (control sockets).
package enum DatagramResult: Equatable, Sendable {
    /// This many bytes (one datagram: a batch of netlink messages).
    case data(Int)
    /// The datagram did not fit the buffer (`MSG_TRUNC`): bytes were lost.
    case truncated(Int)
    /// Nothing to read.
    case wouldBlock
    /// The receive queue overflowed (`ENOBUFS`): messages were dropped.
    case overrun
    /// A datagram that did not come from the kernel (ignored).
    case foreign
}

/// What one batched receive got (event sockets).
package enum BatchResult: Equatable {
    /// This many slots of the ``ReceiveSlots`` hold a datagram.
    case received(Int)
    /// Nothing to read.
    case wouldBlock
    /// The receive queue overflowed (`ENOBUFS`) before the first datagram.
    case overrun
}

/// One netlink socket. Not thread-safe by contract: the library uses each from one
/// thread at a time (the reader thread, or the control I/O thread and senders under a
/// lock).
package protocol TransportSocket: AnyObject {
    /// A descriptor that polls readable (`POLLIN`) while something is queued.
    var pollDescriptor: Int32 { get }
    /// The socket's netlink port id.
    var portID: UInt32 { get }
    /// Joins a multicast group. `EPERM` comes as ``NetlinkPushError/permissionDenied(operation:errno:extack:)``.
    func joinGroup(_ group: Int32) throws(NetlinkPushError)
    /// Leaves a multicast group; errors are ignored (the group may be gone).
    func leaveGroup(_ group: Int32)
    /// Sends one request without blocking.
    func send(_ request: OutgoingRequest) throws(NetlinkPushError)
    /// Reads one datagram into `buffer` without blocking.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(NetlinkPushError) -> DatagramResult
    /// Reads up to `slots.count` datagrams without blocking. An overrun after the
    /// first datagram stays pending for the next call.
    func receiveBatch(into slots: ReceiveSlots) throws(NetlinkPushError) -> BatchResult
    /// Closes the socket. Idempotent.
    func close()
}

/// Opens sockets and resolves the family: everything the library asks of the kernel.
package protocol Transport: Sendable {
    /// Opens a netlink socket set up for `role`.
    func openSocket(_ role: SocketRole) throws(NetlinkPushError) -> any TransportSocket
    /// The nlpush family; ``NetlinkPushError/familyNotFound(family:)`` while it is not
    /// registered (the module is not loaded).
    func resolveFamily() throws(NetlinkPushError) -> FamilyInfo
    /// The generic netlink controller's `notify` group (family added or removed), if
    /// there is one.
    func controllerNotifyGroup() -> Int32?
}
