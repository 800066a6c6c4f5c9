import { findVenue } from '../../db/company-scope.js';
import type { Db } from '../../db/index.js';
import { visitBookings, visitsByDay } from '../../db/reports.js';
import { companyOf } from '../auth.js';
import { found, ruleViolation } from '../errors.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { AggregatorVisits, MAX_REPORT_BOOKINGS, presentVisits, visitsCsv, VisitsQuery } from './reports.schemas.js';

export function reportRoutes(db: Db): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/reports/aggregator-visits',
      summary: "The aggregators' visits per day, activity and aggregator (JSON, or CSV by Accept: text/csv): what a studio checks its payouts against",
      tag: 'Reports',
      auth: 'company',
      query: VisitsQuery,
      response: { status: 200, description: 'The visits of the period', schema: AggregatorVisits },
      errors: [404, 422],
      csv: { render: visitsCsv, filename: (report) => `aggregator-visits-${report.from}-to-${report.to}.csv` },
      handler: async ({ query, auth }) => {
        const companyId = companyOf(auth);
        if (query.venueId !== undefined) found(await findVenue(db, companyId, query.venueId), 'venue');
        const filter = { companyId, from: query.from, to: query.to, venueId: query.venueId, aggregator: query.aggregator };
        const rows = await visitsByDay(db, filter);
        let bookings;
        if (query.include === 'bookings') {
          bookings = await visitBookings(db, filter, MAX_REPORT_BOOKINGS + 1);
          if (bookings.length > MAX_REPORT_BOOKINGS) {
            throw ruleViolation([{ location: 'query', path: 'to', message: `more than ${MAX_REPORT_BOOKINGS} visits in this period: ask for a shorter one to list them` }]);
          }
        }
        return presentVisits(query, rows, bookings);
      },
    }),
  ];
}
