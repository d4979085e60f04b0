/* migrate_int.h - what the parts of the migration engine share (private to migrate*.c).
 *
 * migrate.c      channels (non-blocking sockets, framing, HELLO), status, parameters
 * migrate_src.c  the source's state machine: rounds, pacing, stop-and-copy, the ask
 * migrate_dst.c  the destination's: listening, checking, applying, commit, activation
 * converge.c     when the rounds stop (a pure function, converge.h)
 * handover.c     step 4 for both sides and for saves, restores and start-up
 */
#ifndef FERRY_MIGRATE_INT_H
#define FERRY_MIGRATE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "vmm/migrate/converge.h"
#include "vmm/migrate/handover.h"
#include "vmm/migrate/migrate.h"
#include "vmm/state/stream.h"

#define MIG_MAGIC "FERRYMIG"
/* The HELLO's version is the stream format (stream.h: STREAM_VERSION); from format 2 on it
 * ends with the source's state version. */
#define MIG_HELLO_FIXED 24 /* magic, version, role, channel, token length */
#define MIG_HELLO_MAX (MIG_HELLO_FIXED + MIG_TOKEN_MAX + 4)
#define MIG_IN_BUF (STREAM_RECORD_MAX + 64) /* one whole record of the largest size */
#define MIG_IN_START 4096		    /* a channel's input buffer at first */
#define MIG_OUT_HIGH (512u << 10)	    /* stop filling a channel's buffer above this */
#define MIG_ROLE_CONTROL 0
#define MIG_ROLE_DATA 1
/* From this stream format on the source announces, on its control channel, each data channel
 * with the address it comes from and each round before its pages (docs/migration-stream.md). */
#define MIG_FORMAT_ANNOUNCE 3

/* What a peer that has not shown the token may hold on the destination. */
#define MIG_PENDING_MAX (MIG_MAX_CHANNELS * 2)	 /* connections whose HELLO is not read yet */
#define MIG_PENDING_PER_PEER 2			 /* ... of them from one address */
#define MIG_HELLO_MS 3000			 /* a HELLO is complete this long after accept */
#define MIG_PEERS 32				 /* addresses remembered */
#define MIG_FREE_REFUSALS (MIG_MAX_CHANNELS + 1) /* one whole wrong attempt costs nothing; */
#define MIG_BLOCK_MIN_MS 1000  /* then an address whose HELLO was refused waits this long, ... */
#define MIG_BLOCK_MAX_MS 60000 /* ... doubling with each refusal up to this */
#define MIG_FRAMES_MAX 1024    /* frames the source forwards in the blackout (as vnet.h holds) */
#define MIG_FRAME_BYTES (4u << 20)

/* How channels reach the network: sockets (NULL), or something in process (the fuzz target
 * drives the destination without sockets). fd is the channel's descriptor as adopted. */
struct mig_io {
	ssize_t (*recv)(void *opaque, int fd, void *buf, size_t len); /* -1/EAGAIN: none yet */
	ssize_t (*send)(void *opaque, int fd, const void *buf, size_t len);
	void (*close)(void *opaque, int fd);
	void *opaque;
};

/* Destination: an address connections came from (IPv4-mapped IPv6 written as IPv4). */
struct mig_peer {
	char addr[64];
	int pending;	       /* its connections whose HELLO is not read yet */
	unsigned refusals;     /* its HELLOs refused (wrong token, malformed, too slow) */
	int64_t blocked_until; /* its connections are closed unread until then */
	int64_t last_ns;
};

struct machine;

struct mig_chan {
	int fd;
	int slot;  /* the machine's pollfd slot */
	int index; /* 0: the control channel; 1..: data channels */
	bool alive;
	bool connecting;     /* source: non-blocking connect in progress */
	bool hello;	     /* destination: HELLO checked */
	char addr[64];	     /* source: the destination's host:port; destination: the peer's host */
	int64_t accepted_ns; /* destination: when the connection was accepted */
	struct buf out;	     /* bytes waiting to be written */
	size_t out_off;
	uint8_t *in; /* bytes read and not yet parsed */
	size_t in_len, in_cap;
	uint64_t sent, recvd;
	int64_t last_rx_ns;
	int64_t progress_ns; /* last time bytes left our side (or nothing was waiting) */
	uint32_t drain_round;
	bool drained;
};

/* The source's states (migrate_src.c has the transitions; docs/migration.md the diagram). */
enum mig_src_state {
	SRC_CONNECTING = 0, /* channels connecting, HELLOs and the config sent; await accept */
	SRC_PRECOPY,	    /* rounds of dirty pages while the guest runs */
	SRC_STOPCOPY,	    /* paused and flushed: the last pages go out */
	SRC_COMMIT_ASKED,   /* state and END sent, disks and record let go, commit asked */
	SRC_RESENDING,	    /* commit asked, a data channel died: its pages and END go again */
	SRC_IN_DOUBT,	    /* commit asked, the destination failed or went away: ask the record */
	SRC_DONE,	    /* the destination owns the VM: this copy ends */
	SRC_FAILED,	    /* the VM runs here again (or, disk lost, stays paused here) */
	SRC_CANCELLED,	    /* cancelled before the commit: the VM runs here */
	SRC_NSTATES
};

/* The destination's states (migrate_dst.c). */
enum mig_dst_state {
	DST_LISTENING = 0, /* waiting for the source's channels and its configuration */
	DST_RECEIVING,	   /* configuration accepted: pages, device state, END */
	DST_READY,	   /* everything arrived and applied, READY sent: await the commit */
	DST_COMMITTING,	   /* the source asked to commit: the record is being asked */
	DST_COMMITTED,	   /* the record is ours: disks, announce, resume */
	DST_RUNNING,	   /* the VM runs here */
	DST_FAILED,	   /* gave up before the commit: the VM never ran here */
	DST_NSTATES
};

struct mig {
	struct machine *m;
	struct handover *h; /* the machine's ownership record and disks (handover.h) */
	bool source;
	enum mig_phase phase; /* what status reports: follows the side's state, set with it */
	enum mig_src_state src;
	enum mig_dst_state dst;
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
	uint64_t *todo;	 /* pages to send this round */
	uint64_t cursor; /* next page index to look at */
	uint64_t todo_left;
	uint8_t *last_chan;	    /* per page: the data channel that last carried it */
	struct stream_pages *batch; /* per data channel, under construction */
	uint64_t pages_sent, zero_pages, bytes_sent_payload, round_pages[MIG_MAX_ROUNDS + 2];
	uint64_t dirty_last; /* pages dirtied during the last complete round */
	uint64_t dirty_rate; /* bytes per second, last round */
	uint64_t bandwidth;  /* bytes per second delivered, measured */
	uint64_t expected_downtime_ms;
	int64_t round_start_ns;
	int64_t bw_ns;
	uint64_t bw_delivered;
	struct conv_state conv; /* the convergence policy (converge.h) */
	bool over_budget;
	int final_throttle; /* the throttle when the hart was paused */
	uint64_t round_bytes_start;
	uint64_t tokens; /* bandwidth cap: bytes we may still write */
	int64_t tokens_ns;
	uint64_t src_epoch;
	bool settling;		/* in doubt: the record is being asked */
	int64_t next_settle_ns; /* ... and is asked again no sooner than this */
	/* the blackout, measured on the source (monotonic ns) and reported by the destination */
	int64_t t_pause, t_flush, t_final_queued, t_ready, t_commit_sent, t_done;
	int64_t rt_pause;				       /* realtime at the pause */
	int64_t dst_commit_ns, dst_announce_ns, dst_resume_ns; /* durations at the destination */
	int64_t dst_rt_resume; /* realtime when the destination resumed */
	pthread_t hash_thread; /* hashing the paused source's RAM (hashing: not yet joined) */
	bool hashing;
	uint64_t ram_hash_src;		     /* RAM hash of the paused source, before the commit */
	uint64_t ram_hash_dst;		     /* as the destination computed it */
	uint64_t dev_hash_src, dev_hash_dst; /* every device's state, the same way */
	uint64_t final_pages;
	uint32_t fault_round;	   /* the fault switch's round point fired for this round */
	uint64_t frames_forwarded; /* source: frames that reached its TAP after the pause */
	uint64_t frame_bytes;	   /* ... and their bytes */
	bool dst_said_resumed;	   /* source: the destination said so (the record decides) */
	uint64_t frames_received, frames_dropped; /* destination: forwarded frames */

	/* destination */
	int listen_fd[MIG_MAX_CHANNELS];
	int listen_slot[MIG_MAX_CHANNELS];
	int nlisten;
	struct mig_chan pending[MIG_PENDING_MAX]; /* accepted, HELLO not yet read */
	struct mig_peer peers[MIG_PEERS];
	const struct mig_io *io; /* NULL: sockets */
	/* what a format 3 source announced on its control channel */
	char announced[MIG_MAX_CHANNELS][64]; /* data channel i + 1 comes from this address */
	uint32_t announced_mask, used_mask;   /* data channels announced; ever accepted */
	uint32_t src_round;		      /* the newest round announced */
	uint64_t refused_token, refused_limit, refused_address; /* refusals by reason */
	int64_t log_window_ns;					/* refusal logging: this second */
	unsigned log_lines, log_suppressed;
	uint32_t *page_round; /* per page: newest round applied (0: none) */
	uint8_t *page_hash;   /* per page: hash of its content as applied (common/hash.h) */
	uint64_t zero_page_hash;
	struct stream_versions peer; /* what the source's HELLO says it writes */
	struct buf devrecs;	     /* device records (u32 length + bytes each), applied last */
	int ndevrecs;
	bool have_clock, have_end;
	uint64_t clock_guest_ns;
	int64_t clock_src_rt;
	uint32_t end_round;
	uint32_t end_live;  /* bitmask of data channels the source still uses */
	bool commit_wanted; /* the source asked for the commit (at epoch commit_epoch) */
	uint64_t commit_epoch;
	bool commit_has_hash;	   /* the commit carried the source's RAM hash ... */
	uint64_t commit_ram_hash;  /* ... this one, compared before the commit is asked */
	uint64_t commit_expect;	   /* the token the record was asked to move from */
	int64_t t_commit_asked;	   /* first asked (the blackout's commit is measured from it) */
	int64_t t_commit_last_ask; /* last asked: a busy record is asked again 10 ms later */
	int64_t commit_retry_ns;   /* the record said busy: ask again at this time (0: no) */
	uint64_t refused;	   /* connections refused (bad HELLO or token) */
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
/* Drop what the socket has received (before closing a connection we refused: closing with
 * unread bytes would reset it, and the peer might lose our answer). */
void mig_chan_discard(struct mig *g, struct mig_chan *c);
/* Socket I/O of a channel, through g->io when set. */
ssize_t mig_recv(struct mig *g, int fd, void *buf, size_t len);
void mig_close_fd(struct mig *g, int fd);
/* The numeric host of a socket address (IPv4-mapped IPv6 as IPv4); "" if none. */
void mig_sockaddr_host(const void *sa, unsigned salen, char *out, size_t cap);
/* Next complete record (1), none yet (0), malformed (-1, e set). */
int mig_chan_next(struct mig_chan *c, uint32_t *type, const uint8_t **payload, uint32_t *len,
		  struct err *e);
void mig_chan_consume(struct mig_chan *c, uint32_t len);
size_t mig_chan_pending(const struct mig_chan *c);
void mig_chan_set_poll(struct mig *g, struct mig_chan *c);
/* A HELLO of format STREAM_VERSION, at state version STATE_VERSION. */
void mig_hello(struct buf *b, const char *token, uint32_t role, uint32_t index);
int64_t mig_cpu_ns(void);
void mig_event(struct mig *g);
void mig_fail(struct mig *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sides. Every change of state goes through these (a change the table does not allow is
 * refused and logged). */
void mig_src_enter(struct mig *g, enum mig_src_state to);
void mig_dst_enter(struct mig *g, enum mig_dst_state to);
const char *mig_src_state_name(enum mig_src_state s);
const char *mig_dst_state_name(enum mig_dst_state s);
/* Has the source asked for the commit (so it may never resume without the record)? */
static inline bool mig_src_commit_asked(const struct mig *g)
{
	return g->src >= SRC_COMMIT_ASKED && g->src <= SRC_DONE;
}

void mig_src_tick(struct mig *g);
void mig_src_ready(void *opaque, short revents);
void mig_src_destroy(struct mig *g);
void mig_dst_tick(struct mig *g);
/* Take a connected, non-blocking socket from the peer address host as if just accepted (its
 * HELLO is read next), or refuse it (closed: the peer holds too many, or is blocked). The fuzz
 * target and the unit tests feed the destination this way. */
void mig_dst_adopt(struct mig *g, int fd, const char *host);
void mig_dst_destroy(struct mig *g);

#endif
