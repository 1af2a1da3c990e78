/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO-proxy: the interface through which each COLO-proxy object
 * (filter-mirror, filter-redirector, filter-rewriter, colo-compare)
 * reports its counters to the query-colo-proxy QMP command and the
 * "info colo-proxy" HMP command.
 */

#ifndef NET_COLO_PROXY_H
#define NET_COLO_PROXY_H

#include "qom/object.h"
#include "qapi/qapi-types-colo-proxy.h"

#define TYPE_COLO_PROXY_REPORTER "colo-proxy-reporter"

typedef struct ColoProxyReporterClass ColoProxyReporterClass;
DECLARE_CLASS_CHECKERS(ColoProxyReporterClass, COLO_PROXY_REPORTER,
                       TYPE_COLO_PROXY_REPORTER)
#define COLO_PROXY_REPORTER(obj) \
    INTERFACE_CHECK(ColoProxyReporter, (obj), TYPE_COLO_PROXY_REPORTER)

typedef struct ColoProxyReporter ColoProxyReporter;

/**
 * ColoProxyReporterClass:
 * @report: called with the BQL held.  Sets @info->kind and fills the
 *     counters of that kind's branch of @info (@info->id is filled by
 *     the caller).  Counters that another thread updates must be read
 *     with qatomic_read() or under that thread's lock.
 */
struct ColoProxyReporterClass {
    InterfaceClass parent_class;

    void (*report)(Object *obj, ColoProxyObjectInfo *info);
};

#endif /* NET_COLO_PROXY_H */
