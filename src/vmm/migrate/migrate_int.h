/* migrate_int.h - what the parts of the migration engine share (private to migrate*.c).
 *
 * migrate.c      channels (non-blocking sockets, framing, HELLO), status, parameters
 * migrate_src.c  the source: rounds, pacing, convergence, stop-and-copy, commit
 * migrate_dst.c  the destination: listening, checking, applying, commit, activation
 */
#ifndef FERRY_MIGRATE_INT_H
#define FERRY_MIGRATE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "vmm/migrate/migrate.h"

#define MIG_MAGIC "FERRYMIG"
#define MIG_VERSION 1
#define MIG_HELLO_MAX (8 + 4 + 4 + 4 + 4 + MIG_TOKEN_MAX)
#define MIG_RECORD_MAX (2u << 20) /* a page batch is about 1 MiB */
#define MIG_IN_BUF (MIG_RECORD_MAX + 64)
#define MIG_OUT_HIGH (512u << 10) /* stop filling a channel's buffer above this */
#define MIG_ROLE_CONTROL 0
#define MIG_ROLE_DATA 1

struct machine;

struct mig_chan {
	int fd;
	int slot;	  /* the machine's pollfd slot */
	int index;	  /* 0: the control channel; 1..: data channels */
	bool alive;
	bool connecting;  /* source: non-blocking connect in progress */
	bool hello;	  /* destination: HELLO checked */
	char addr[64];
	struct buf out;	  /* bytes waiting to be written */
	size_t out_off;
	uint8_t *in;	  /* bytes read and not yet parsed */
	size_t in_len;
	uint64_t sent, recvd;
	int64_t last_rx_ns;
	int64_t progress_ns; /* last time bytes left our side (or nothing was waiting) */
	uint32_t drain_round;
	bool drained;
};

struct mig {
	struct machine *m;
	bool source;
	enum mig_phase phase;
	char error[512];
	struct mig_params p;
	struct mig_chan ctl;
	struct mig_chan data[MIG_MAX_CHANNELS];
	int ndata;
	int64_t t_start, t_end;
	int64_t cpu_start_ns, cpu_end_ns; /* process CPU time (user + system) at start and end */
	int64_t last_hb_ns;

	/* source */
	uint32_t round;
	uint64_t *todo;	     /* pages to send this round */
	uint64_t cursor;     /* next page index to look at */
	uint64_t todo_left;
	uint8_t *last_chan;  /* per page: the data channel that last carried it */
	struct stream_pages *batch; /* per data channel, under construction */
	uint64_t pages_sent, zero_pages, bytes_sent_payload, round_pages[MIG_MAX_ROUNDS + 2];
	uint64_t dirty_last;	     /* pages dirtied during the last complete round */
	uint64_t dirty_rate;	     /* bytes per second, last round */
	uint64_t bandwidth;	     /* bytes per second delivered, measured */
	uint64_t expected_downtime_ms;
	int64_t round_start_ns;
	int64_t bw_ns;
	uint64_t bw_delivered;
	int no_progress_rounds;	     /* rounds in a row dirtying more than half of what they send */
	bool throttle_useless;	     /* at its maximum, or not slowing the dirtying down */
	uint64_t dirty_prev;	     /* pages dirtied during the round before */
	bool throttled, over_budget;
	int final_throttle;	     /* the throttle when the hart was paused */
	uint64_t round_bytes_start;
	uint64_t rate_at_throttle;   /* the dirty rate when the throttle last went up */
	uint64_t tokens;	     /* bandwidth cap: bytes we may still write */
	int64_t tokens_ns;
	bool preflushed;
	bool end_sent, commit_sent, committed;
	uint64_t src_epoch;
	/* the blackout, measured on the source (monotonic ns) and reported by the destination */
	int64_t t_pause, t_flush, t_final_queued, t_ready, t_commit_sent, t_done;
	int64_t rt_pause;	     /* realtime at the pause */
	int64_t dst_commit_ns, dst_announce_ns, dst_resume_ns; /* durations at the destination */
	int64_t dst_rt_resume;	     /* realtime when the destination resumed */
	uint64_t ram_hash_src;	     /* RAM hash of the paused source, after the commit */
	uint64_t ram_hash_dst;	     /* as the destination computed it */
	uint64_t dev_hash_src, dev_hash_dst; /* every device's state, the same way */
	uint64_t final_pages;
	uint32_t fault_round;	     /* the fault switch's round point fired for this round */
	uint64_t frames_forwarded;   /* source: frames that reached its TAP after the pause */
	uint64_t frames_received, frames_dropped; /* destination: forwarded frames */

	/* destination */
	int listen_fd[MIG_MAX_CHANNELS];
	int listen_slot[MIG_MAX_CHANNELS];
	int nlisten;
	struct mig_chan pending[MIG_MAX_CHANNELS * 2]; /* accepted, HELLO not yet read */
	uint32_t *page_round;	     /* per page: newest round applied (0: none) */
	uint64_t *page_hash;	     /* per page: hash of its content as applied */
	struct buf devrecs;	     /* device records (u32 length + bytes each), applied last */
	int ndevrecs;
	bool config_ok;		     /* the source's configuration was checked and accepted */
	bool have_clock, have_end;
	uint64_t clock_guest_ns;
	int64_t clock_src_rt;
	uint32_t end_round;
	uint32_t end_live;	     /* bitmask of data channels the source still uses */
	bool ready_sent;
	bool commit_wanted;	     /* the source asked for the commit (at epoch commit_epoch) */
	uint64_t commit_epoch;
	uint64_t refused;	     /* connections refused (bad HELLO or token) */
	int64_t t_first_byte;
	uint64_t pages_applied, pages_stale;
	int announces_left;
	int64_t next_announce_ns;
};

/* Channels (migrate.c) */
void mig_chan_init(struct mig_chan *c, int index);
void mig_chan_close(struct mig *g, struct mig_chan *c);
int mig_chan_attach(struct mig *g, struct mig_chan *c, int fd,
		    void (*ready)(void *opaque, short revents), struct err *e);
void mig_chan_record(struct mig_chan *c, uint32_t type, const void *payload, size_t len);
/* Queue a control message (a JSON object, built with json_pack or json.h); takes its
 * reference. */
void mig_chan_ctrl(struct mig_chan *c, json_t *msg);
/* Write what is buffered; returns -1 if the channel failed. */
int mig_chan_flush(struct mig *g, struct mig_chan *c);
/* Read what the socket has; returns -1 on EOF or error. */
int mig_chan_fill(struct mig *g, struct mig_chan *c);
/* Next complete record (1), none yet (0), malformed (-1, e set). */
int mig_chan_next(struct mig_chan *c, uint32_t *type, const uint8_t **payload, uint32_t *len,
		  struct err *e);
void mig_chan_consume(struct mig_chan *c, uint32_t len);
size_t mig_chan_pending(const struct mig_chan *c);
void mig_chan_set_poll(struct mig *g, struct mig_chan *c);
void mig_hello(struct buf *b, const char *token, uint32_t role, uint32_t index);
uint64_t mig_page_hash(uint64_t pfn, const uint8_t *page);
int64_t mig_cpu_ns(void);
uint64_t mig_ram_hash(struct machine *m);
void mig_event(struct mig *g);
void mig_fail(struct mig *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sides */
void mig_src_tick(struct mig *g);
void mig_src_ready(void *opaque, short revents);
void mig_src_destroy(struct mig *g);
void mig_dst_tick(struct mig *g);
/* Take a connected, non-blocking socket as if just accepted (its HELLO is read next). The fuzz
 * target feeds the parser this way. */
void mig_dst_adopt(struct mig *g, int fd);
void mig_dst_destroy(struct mig *g);

#endif
