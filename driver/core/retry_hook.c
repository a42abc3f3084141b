// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: the retry hook, a debugfs knob for tests (root only).  It parks one
 * fault between hmm_range_fault() and mmu_interval_read_retry() ("arm"),
 * or one device access while it holds its pages in flight
 * ("arm_inflight"), or one fast-path access while it holds its page in
 * its CPU's access slot ("arm_fast"), so that a test can run a real
 * invalidation exactly there: the first must retry, the others must be
 * waited for (or, on inflight, refused when they cannot be).
 */
#include <linux/debugfs.h>
#include <linux/jump_label.h>
#include <linux/jiffies.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "umem.h"

enum odp_retry_hook_state {
	ODP_HOOK_IDLE,
	ODP_HOOK_ARMED,
	ODP_HOOK_PARKED,
	ODP_HOOK_RELEASED,
};

static const char * const odp_hook_state_names[] = {
	[ODP_HOOK_IDLE]		= "idle",
	[ODP_HOOK_ARMED]	= "armed",
	[ODP_HOOK_PARKED]	= "parked",
	[ODP_HOOK_RELEASED]	= "released",
};

#define ODP_HOOK_PARK_TIMEOUT	(10 * HZ)
/* A fast-path access spins with preemption off: a shorter leash. */
#define ODP_HOOK_SPIN_TIMEOUT	(2 * HZ)

/* Protects odp_hook_state and odp_hook_point. */
static DEFINE_SPINLOCK(odp_hook_lock);
static enum odp_retry_hook_state odp_hook_state;
static enum odp_hook_point odp_hook_point;
static DECLARE_WAIT_QUEUE_HEAD(odp_hook_wq);

/*
 * Production accesses pay one patched-out jump: the key is on only while
 * an arm is outstanding (armed or parked).
 */
DEFINE_STATIC_KEY_FALSE(odp_retry_hook_key);

/* Take the arm if it is for @point: the caller parks. */
static bool odp_hook_take(enum odp_hook_point point)
{
	bool park = false;

	spin_lock(&odp_hook_lock);
	if (odp_hook_state == ODP_HOOK_ARMED && odp_hook_point == point) {
		odp_hook_state = ODP_HOOK_PARKED;
		park = true;
	}
	spin_unlock(&odp_hook_lock);
	return park;
}

/* Is an arm for @point waiting for its access? */
bool odp_retry_hook_armed(enum odp_hook_point point)
{
	return READ_ONCE(odp_hook_state) == ODP_HOOK_ARMED &&
	       READ_ONCE(odp_hook_point) == point;
}

void odp_retry_hook(enum odp_hook_point point)
{
	if (!odp_hook_take(point))
		return;

	wait_event_timeout(odp_hook_wq,
			   READ_ONCE(odp_hook_state) == ODP_HOOK_RELEASED,
			   ODP_HOOK_PARK_TIMEOUT);

	spin_lock(&odp_hook_lock);
	odp_hook_state = ODP_HOOK_IDLE;
	spin_unlock(&odp_hook_lock);
	static_branch_dec(&odp_retry_hook_key);	/* this arm is over */
}

/* Arms whose key count a spinning access could not drop itself. */
static atomic_t odp_hook_key_drops = ATOMIC_INIT(0);

static void odp_hook_drop_keys(struct work_struct *work)
{
	while (atomic_add_unless(&odp_hook_key_drops, -1, 0))
		static_branch_dec(&odp_retry_hook_key);
}

static DECLARE_WORK(odp_hook_drop_work, odp_hook_drop_keys);

/*
 * The fast path's point (ODP_HOOK_FAST): preemption is off there, so the
 * access spins until released instead of sleeping, and leaves dropping the
 * key (which sleeps) to a work item.
 */
void odp_retry_hook_spin(enum odp_hook_point point)
{
	unsigned long deadline = jiffies + ODP_HOOK_SPIN_TIMEOUT;

	if (!odp_hook_take(point))
		return;
	while (READ_ONCE(odp_hook_state) != ODP_HOOK_RELEASED &&
	       time_before(jiffies, deadline))
		cpu_relax();

	spin_lock(&odp_hook_lock);
	odp_hook_state = ODP_HOOK_IDLE;
	spin_unlock(&odp_hook_lock);
	atomic_inc(&odp_hook_key_drops);
	schedule_work(&odp_hook_drop_work);
}

static ssize_t odp_hook_read(struct file *file, char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	const char *name = odp_hook_state_names[READ_ONCE(odp_hook_state)];
	char buf[16];
	int len;

	len = scnprintf(buf, sizeof(buf), "%s\n", name);
	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

static ssize_t odp_hook_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	char buf[16];
	int ret = 0;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';

	spin_lock(&odp_hook_lock);
	if (sysfs_streq(buf, "arm") && odp_hook_state == ODP_HOOK_IDLE) {
		odp_hook_state = ODP_HOOK_ARMED;
		odp_hook_point = ODP_HOOK_FAULT;
	} else if (sysfs_streq(buf, "arm_inflight") &&
		   odp_hook_state == ODP_HOOK_IDLE) {
		odp_hook_state = ODP_HOOK_ARMED;
		odp_hook_point = ODP_HOOK_INFLIGHT;
	} else if (sysfs_streq(buf, "arm_fast") &&
		   odp_hook_state == ODP_HOOK_IDLE) {
		odp_hook_state = ODP_HOOK_ARMED;
		odp_hook_point = ODP_HOOK_FAST;
	} else if (sysfs_streq(buf, "disarm") &&
		   odp_hook_state == ODP_HOOK_ARMED) {
		odp_hook_state = ODP_HOOK_IDLE;
	} else if (sysfs_streq(buf, "release") &&
		   odp_hook_state == ODP_HOOK_PARKED) {
		odp_hook_state = ODP_HOOK_RELEASED;
	} else {
		ret = -EINVAL;
	}
	spin_unlock(&odp_hook_lock);

	if (ret)
		return ret;
	/*
	 * One count per arm, dropped by disarm or by the parked access;
	 * outside the spinlock: these may sleep.
	 */
	if (sysfs_streq(buf, "arm") || sysfs_streq(buf, "arm_inflight") ||
	    sysfs_streq(buf, "arm_fast"))
		static_branch_inc(&odp_retry_hook_key);
	else if (sysfs_streq(buf, "disarm"))
		static_branch_dec(&odp_retry_hook_key);
	wake_up_all(&odp_hook_wq);
	return count;
}

static const struct file_operations odp_hook_fops = {
	.owner	= THIS_MODULE,
	.read	= odp_hook_read,
	.write	= odp_hook_write,
	.llseek	= default_llseek,
};

void odp_retry_hook_init(struct dentry *dir)
{
	debugfs_create_file("retry_hook", 0600, dir, NULL, &odp_hook_fops);
}

/* Module exit: the key counts dropped by the work item are all dropped. */
void odp_retry_hook_exit(void)
{
	flush_work(&odp_hook_drop_work);
}

