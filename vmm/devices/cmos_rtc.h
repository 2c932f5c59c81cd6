/*
 * cmos_rtc.h - the MC146818 CMOS clock at ports 0x70/0x71, read-only: the
 * time registers give the host's UTC time in BCD, status A says no update
 * is in progress, status D says the battery is good. Writes to the index
 * register select; writes to data are ignored (the guest cannot set the
 * host clock). Linux reads it when kvmclock is absent and to set its
 * wall clock.
 */
#ifndef COWVM_CMOS_RTC_H
#define COWVM_CMOS_RTC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CMOS_PORT_INDEX 0x70
#define CMOS_PORT_DATA  0x71
/* Registers (MC146818A datasheet; Linux include/linux/mc146818rtc.h). */
#define CMOS_SECONDS 0x00
#define CMOS_MINUTES 0x02
#define CMOS_HOURS   0x04
#define CMOS_WEEKDAY 0x06
#define CMOS_DAY     0x07
#define CMOS_MONTH   0x08
#define CMOS_YEAR    0x09
#define CMOS_STATUS_A 0x0a /* bit 7 UIP = 0; divider 010, rate 0110 */
#define CMOS_STATUS_B 0x0b /* bit 1 = 24-hour mode, bit 2 = 0: BCD */
#define CMOS_STATUS_C 0x0c
#define CMOS_STATUS_D 0x0d /* bit 7 VRT: RAM and time valid */
#define CMOS_CENTURY 0x32
#define CMOS_STATUS_A_VALUE 0x26
#define CMOS_STATUS_B_VALUE 0x02
#define CMOS_STATUS_D_VALUE 0x80
#define CMOS_INDEX_MASK 0x7f /* bit 7 of the index port gates NMI */

struct cmos_rtc {
	uint8_t index;
};

/* Port access at CMOS_PORT_INDEX/DATA; false for other ports. `now` is the
 * time the clock shows (the caller passes time(NULL)). */
bool cmos_rtc_io(struct cmos_rtc *c, uint16_t port, bool write, uint8_t *val, time_t now);

#endif
