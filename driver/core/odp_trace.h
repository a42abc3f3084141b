/* SPDX-License-Identifier: GPL-2.0 */
/*
 * odp_core tracepoints: /sys/kernel/tracing/events/odp_core/.
 *
 * Every event names its umem by id (umem_id, unique while the module is
 * loaded; parent_id is the implicit umem a child belongs to, 0 for others)
 * and the range of user virtual addresses it is about.  The events and their
 * fields are described in Documentation/design.md ("Tracepoints").
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM odp_core

#if !defined(ODP_CORE_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define ODP_CORE_TRACE_H

#include <linux/mmu_notifier.h>
#include <linux/tracepoint.h>

#include "umem.h"

TRACE_DEFINE_ENUM(MMU_NOTIFY_UNMAP);
TRACE_DEFINE_ENUM(MMU_NOTIFY_CLEAR);
TRACE_DEFINE_ENUM(MMU_NOTIFY_PROTECTION_VMA);
TRACE_DEFINE_ENUM(MMU_NOTIFY_PROTECTION_PAGE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_SOFT_DIRTY);
TRACE_DEFINE_ENUM(MMU_NOTIFY_RELEASE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_MIGRATE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_EXCLUSIVE);

#define odp_show_mmu_event(e)						\
	__print_symbolic(e,						\
			 { MMU_NOTIFY_UNMAP,		"unmap" },		\
			 { MMU_NOTIFY_CLEAR,		"clear" },		\
			 { MMU_NOTIFY_PROTECTION_VMA,	"protection_vma" },	\
			 { MMU_NOTIFY_PROTECTION_PAGE,	"protection_page" },	\
			 { MMU_NOTIFY_SOFT_DIRTY,	"soft_dirty" },		\
			 { MMU_NOTIFY_RELEASE,		"release" },		\
			 { MMU_NOTIFY_MIGRATE,		"migrate" },		\
			 { MMU_NOTIFY_EXCLUSIVE,	"exclusive" })

/* One batch of a fault: hmm_range_fault() of [start, end) and its install. */
TRACE_EVENT(odp_fault,
	    TP_PROTO(const struct odp_umem *umem, unsigned long start,
		     unsigned long end, unsigned int flags, unsigned long pages,
		     unsigned int retries, int ret),
	    TP_ARGS(umem, start, end, flags, pages, retries, ret),
	    TP_STRUCT__entry(__field(u32,		umem_id)
			     __field(u32,		parent_id)
			     __field(unsigned long,	start)
			     __field(unsigned long,	end)
			     __field(bool,		write)
			     __field(bool,		no_fault)
			     __field(unsigned long,	pages)
			     __field(unsigned int,	retries)
			     __field(int,		ret)),
	    TP_fast_assign(__entry->umem_id = umem->id;
			   __entry->parent_id = umem->parent ? umem->parent->id : 0;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->write = flags & ODP_UMEM_FAULT_WRITE;
			   __entry->no_fault = flags & ODP_UMEM_FAULT_NO_FAULT;
			   __entry->pages = pages;
			   __entry->retries = retries;
			   __entry->ret = ret;),
	    TP_printk("umem=%u parent=%u start=0x%lx end=0x%lx write=%d no_fault=%d pages=%lu retries=%u ret=%d",
		      __entry->umem_id, __entry->parent_id, __entry->start,
		      __entry->end, __entry->write, __entry->no_fault,
		      __entry->pages, __entry->retries, __entry->ret)
);

/* A fault's walk was invalidated before it could install (seq collision). */
TRACE_EVENT(odp_retry,
	    TP_PROTO(const struct odp_umem *umem, unsigned long start,
		     unsigned long end, unsigned long seq, unsigned long cur_seq),
	    TP_ARGS(umem, start, end, seq, cur_seq),
	    TP_STRUCT__entry(__field(u32,		umem_id)
			     __field(unsigned long,	start)
			     __field(unsigned long,	end)
			     __field(unsigned long,	seq)
			     __field(unsigned long,	cur_seq)),
	    TP_fast_assign(__entry->umem_id = umem->id;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->seq = seq;
			   __entry->cur_seq = cur_seq;),
	    TP_printk("umem=%u start=0x%lx end=0x%lx seq=%lu cur_seq=%lu",
		      __entry->umem_id, __entry->start, __entry->end,
		      __entry->seq, __entry->cur_seq)
);

/* The notifier callback on [start, end) (clamped to the umem). */
TRACE_EVENT(odp_invalidate,
	    TP_PROTO(const struct odp_umem *umem, unsigned long start,
		     unsigned long end, enum mmu_notifier_event event,
		     unsigned long pages, bool write_protect, bool waited,
		     bool blockable, bool refused),
	    TP_ARGS(umem, start, end, event, pages, write_protect, waited,
		    blockable, refused),
	    TP_STRUCT__entry(__field(u32,		umem_id)
			     __field(u32,		parent_id)
			     __field(unsigned long,	start)
			     __field(unsigned long,	end)
			     __field(unsigned int,	event)
			     __field(unsigned long,	pages)
			     __field(bool,		write_protect)
			     __field(bool,		waited)
			     __field(bool,		blockable)
			     __field(bool,		refused)),
	    TP_fast_assign(__entry->umem_id = umem->id;
			   __entry->parent_id = umem->parent ? umem->parent->id : 0;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->event = event;
			   __entry->pages = pages;
			   __entry->write_protect = write_protect;
			   __entry->waited = waited;
			   __entry->blockable = blockable;
			   __entry->refused = refused;),
	    TP_printk("umem=%u parent=%u start=0x%lx end=0x%lx event=%s pages=%lu write_protect=%d waited=%d blockable=%d refused=%d",
		      __entry->umem_id, __entry->parent_id, __entry->start,
		      __entry->end, odp_show_mmu_event(__entry->event),
		      __entry->pages, __entry->write_protect, __entry->waited,
		      __entry->blockable, __entry->refused)
);

/* A consumer's prefetch (advise_mr) of [start, end) finished. */
TRACE_EVENT(odp_prefetch,
	    TP_PROTO(const struct odp_umem *umem, unsigned long start,
		     unsigned long end, unsigned int flags, int ret),
	    TP_ARGS(umem, start, end, flags, ret),
	    TP_STRUCT__entry(__field(u32,		umem_id)
			     __field(unsigned long,	start)
			     __field(unsigned long,	end)
			     __field(bool,		write)
			     __field(bool,		no_fault)
			     __field(int,		ret)),
	    TP_fast_assign(__entry->umem_id = umem->id;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->write = flags & ODP_UMEM_FAULT_WRITE;
			   __entry->no_fault = flags & ODP_UMEM_FAULT_NO_FAULT;
			   __entry->ret = ret;),
	    TP_printk("umem=%u start=0x%lx end=0x%lx write=%d no_fault=%d ret=%d",
		      __entry->umem_id, __entry->start, __entry->end,
		      __entry->write, __entry->no_fault, __entry->ret)
);

#endif /* ODP_CORE_TRACE_H */

/* This part must be outside the include guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE odp_trace
#include <trace/define_trace.h>
