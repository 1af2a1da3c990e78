/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO-proxy: query-colo-proxy (QMP) and "info colo-proxy" (HMP).
 *
 * Every COLO-proxy object implements the colo-proxy-reporter QOM
 * interface; this file walks the user-created objects and asks each
 * one for its counters.  The HMP command prints the same data as the
 * QMP command, converted generically, so the two can never disagree.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-colo-proxy.h"
#include "qapi/qapi-visit-colo-proxy.h"
#include "qapi/qobject-output-visitor.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qom/object_interfaces.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "net/colo-proxy.h"

typedef struct ColoProxyQuery {
    const char *id;
    ColoProxyObjectInfoList **tail;
    bool found;
} ColoProxyQuery;

static int colo_proxy_query_one(Object *obj, void *opaque)
{
    ColoProxyQuery *q = opaque;
    ColoProxyReporterClass *rc;
    ColoProxyObjectInfo *info;
    const char *id;

    if (!object_dynamic_cast(obj, TYPE_COLO_PROXY_REPORTER)) {
        return 0;
    }
    /* The object's own name: compare it, copy it, never free it. */
    id = object_get_canonical_path_component(obj);
    if (q->id && g_strcmp0(q->id, id) != 0) {
        return 0;
    }
    rc = COLO_PROXY_REPORTER_GET_CLASS(obj);
    info = g_new0(ColoProxyObjectInfo, 1);
    info->id = g_strdup(id);
    rc->report(obj, info);
    QAPI_LIST_APPEND(q->tail, info);
    q->found = true;
    return 0;
}

ColoProxyObjectInfoList *qmp_query_colo_proxy(const char *id, Error **errp)
{
    ColoProxyObjectInfoList *head = NULL;
    ColoProxyQuery q = { .id = id, .tail = &head };

    object_child_foreach(object_get_objects_root(), colo_proxy_query_one,
                         &q);
    if (id && !q.found) {
        error_setg(errp, "'%s' is not a COLO-proxy object", id);
        return NULL;
    }
    return head;
}

static void hmp_print_counters(Monitor *mon, QDict *dict, const char *prefix)
{
    const QDictEntry *e;

    for (e = qdict_first(dict); e; e = qdict_next(dict, e)) {
        QObject *v = qdict_entry_value(e);
        const char *key = qdict_entry_key(e);

        if (!strcmp(key, "id") || !strcmp(key, "kind")) {
            continue;
        }
        switch (qobject_type(v)) {
        case QTYPE_QDICT: {
            g_autofree char *sub = g_strdup_printf("%s%s.", prefix, key);
            hmp_print_counters(mon, qobject_to(QDict, v), sub);
            break;
        }
        case QTYPE_QNUM: {
            g_autofree char *num = qnum_to_string(qobject_to(QNum, v));
            monitor_printf(mon, "  %s%s: %s\n", prefix, key, num);
            break;
        }
        case QTYPE_QSTRING:
            monitor_printf(mon, "  %s%s: %s\n", prefix, key,
                           qstring_get_str(qobject_to(QString, v)));
            break;
        case QTYPE_QBOOL:
            monitor_printf(mon, "  %s%s: %s\n", prefix, key,
                           qbool_get_bool(qobject_to(QBool, v)) ?
                           "on" : "off");
            break;
        default:
            break;
        }
    }
}

void hmp_info_colo_proxy(Monitor *mon, const QDict *qdict)
{
    const char *id = qdict_get_try_str(qdict, "id");
    Error *err = NULL;
    g_autoptr(ColoProxyObjectInfoList) list = qmp_query_colo_proxy(id, &err);
    ColoProxyObjectInfoList *l;

    if (hmp_handle_error(mon, err)) {
        return;
    }
    if (!list) {
        monitor_printf(mon, "No COLO-proxy objects\n");
        return;
    }
    for (l = list; l; l = l->next) {
        Visitor *v;
        QObject *obj = NULL;

        v = qobject_output_visitor_new(&obj);
        visit_type_ColoProxyObjectInfo(v, NULL, &l->value, &error_abort);
        visit_complete(v, &obj);
        visit_free(v);
        monitor_printf(mon, "%s (%s):\n", l->value->id,
                       ColoProxyObjectKind_str(l->value->kind));
        hmp_print_counters(mon, qobject_to(QDict, obj), "");
        qobject_unref(obj);
    }
}

static const TypeInfo colo_proxy_reporter_info = {
    .name = TYPE_COLO_PROXY_REPORTER,
    .parent = TYPE_INTERFACE,
    .class_size = sizeof(ColoProxyReporterClass),
};

static void colo_proxy_register_types(void)
{
    type_register_static(&colo_proxy_reporter_info);
}

type_init(colo_proxy_register_types);
