/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * colo-compare: the functions the COLO frame (migration/colo.c) and the
 * net layer (net/net.c) call.  The object itself is private to
 * net/colo-compare.c; net/colo-stubs.c provides colo_compare_cleanup()
 * when COLO is compiled out.
 */

#ifndef QEMU_COLO_COMPARE_H
#define QEMU_COLO_COMPARE_H

#include "qemu/notify.h"

#define TYPE_COLO_COMPARE "colo-compare"

/*
 * colo_notify_compares_event:
 * @opaque: unused
 * @event: COLO_EVENT_CHECKPOINT or COLO_EVENT_FAILOVER (other values are
 *         ignored)
 * @errp: unused; the call cannot fail
 *
 * Tell every colo-compare object that a checkpoint happened (release
 * every queued primary frame in order, drop every secondary frame, compare
 * afresh) or that the secondary is gone (release, then pass the primary's
 * traffic through).  Returns once every object has done so in its
 * iothread.  May be called from any thread, with or without the BQL,
 * except from within a colo-compare object's callbacks.
 */
void colo_notify_compares_event(void *opaque, int event, Error **errp);

/*
 * colo_compare_register_notifier / colo_compare_unregister_notifier:
 * @notify: called (from a colo-compare iothread, with data NULL) when a
 *          colo-compare object without notify_dev wants a checkpoint.
 *
 * Safe from any thread.  Once unregister returns, @notify is not running
 * and will not be called.
 */
void colo_compare_register_notifier(Notifier *notify);
void colo_compare_unregister_notifier(Notifier *notify);

/*
 * colo_compare_cleanup:
 *
 * Called at exit (net_cleanup(), main thread, BQL held) before the
 * chardevs are destroyed: detach every colo-compare object from its
 * chardevs and stop its timers in its iothread.
 */
void colo_compare_cleanup(void);

#endif /* QEMU_COLO_COMPARE_H */
