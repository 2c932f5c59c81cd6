/* cmos_rtc.c - read-only MC146818 clock (see cmos_rtc.h). */
#include "cmos_rtc.h"

static uint8_t bcd(int v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }

static uint8_t cmos_reg(uint8_t reg, time_t now)
{
	struct tm tm;
	if (!gmtime_r(&now, &tm))
		return 0;
	switch (reg) {
	case CMOS_SECONDS: return bcd(tm.tm_sec > 59 ? 59 : tm.tm_sec);
	case CMOS_MINUTES: return bcd(tm.tm_min);
	case CMOS_HOURS: return bcd(tm.tm_hour);
	case CMOS_WEEKDAY: return bcd(tm.tm_wday + 1);
	case CMOS_DAY: return bcd(tm.tm_mday);
	case CMOS_MONTH: return bcd(tm.tm_mon + 1);
	case CMOS_YEAR: return bcd(tm.tm_year % 100);
	case CMOS_CENTURY: return bcd((tm.tm_year + 1900) / 100 % 100);
	case CMOS_STATUS_A: return CMOS_STATUS_A_VALUE;
	case CMOS_STATUS_B: return CMOS_STATUS_B_VALUE;
	case CMOS_STATUS_D: return CMOS_STATUS_D_VALUE;
	default: return 0; /* status C (no interrupt flags) and the NVRAM */
	}
}

bool cmos_rtc_io(struct cmos_rtc *c, uint16_t port, bool write, uint8_t *val, time_t now)
{
	if (port == CMOS_PORT_INDEX) {
		if (write)
			c->index = *val & CMOS_INDEX_MASK;
		else
			*val = c->index;
		return true;
	}
	if (port == CMOS_PORT_DATA) {
		if (!write)
			*val = cmos_reg(c->index, now);
		return true;
	}
	return false;
}
