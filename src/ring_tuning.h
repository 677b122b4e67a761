/* Tuning shared by the ring and the benchmark's classic ring, which must
 * wait the same way for the comparison to mean anything. */
#ifndef VMP_RING_TUNING_H
#define VMP_RING_TUNING_H

/* How many times a waiting side looks again (with a CPU pause between
 * looks, some tens of microseconds in all) before it goes to sleep. With
 * the other side on another CPU the data usually arrives within that, and
 * a futex wait and wake per message would cost far more than the copy. */
#define VMP__RING_SPIN_PROBES 2000

#endif
