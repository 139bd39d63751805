// Package leader runs a task on at most one process of a group at a time
// (a scheduler, a cleanup job, an outbox relay), across the replicas of a
// service that share a NATS server with JetStream.
//
// Leadership is a key in a JetStream key-value bucket whose time to live
// is [Config.TTL]: a process becomes leader by creating the key (which
// succeeds for one process only), keeps it by updating it every
// [Config.Renew] against the revision it last wrote, and gives it up by
// deleting it. The task's context is cancelled as soon as a renewal fails
// (the key was taken, the server does not answer within TTL/3, the
// connection is gone) or shutdown begins; a leader that dies stops
// renewing, its key expires, and another process wins it within TTL plus
// Renew.
//
// Guarantees and their limits:
//
//   - A renewal may take up to TTL/3 and Renew is at most TTL/3, so a
//     failure is noticed at most 2/3 of the TTL after the last renewal
//     that succeeded: a leader cut off from the server has its context
//     cancelled before its key expires. A
//     task that keeps running after its context is cancelled, or a
//     process paused (GC, SIGSTOP, a VM migration) for longer than the
//     TTL, can still overlap with the next leader: that is what the
//     fencing token is for.
//   - The fencing token is the key's revision when it was created, a
//     sequence number of the bucket's stream: it grows strictly from each
//     leader to the next. Pass it to the external systems the task writes
//     to, and have them refuse a token lower than the highest seen.
//   - Every process of a group must use the same bucket, group and TTL;
//     a bucket that exists with another TTL is an error, never changed.
//
// Leadership changes are [ElectedEvent] and [LostEvent] on the bus given
// in [Config.Bus], and log lines. Run a Singleton as a lifecycle task
// with [Singleton.Task] (or call [Singleton.Run] from one); under Fx,
// build it from the *natsbridge.Conn, which the task then needs: the
// connection is open before the runtime starts the task and closes after
// the task has ended, so that the key is given up at the stop (Run waits
// for a connection that is not open yet, as without Fx):
//
//	lifecycle.AsTask(func(c *natsbridge.Conn, bus *fxbus.Bus) (lifecycle.Task, error) {
//		s, err := leader.New(c, leader.Config{Bucket: "leaders", Group: "cleanup", Bus: bus}, cleanup)
//		if err != nil {
//			return lifecycle.Task{}, err
//		}
//		return s.Task("cleanup"), nil
//	})
package leader
