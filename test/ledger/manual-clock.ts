/** The conformance suite's clock: the service's manual clock, starting at a fixed instant unless told otherwise. */
import { ManualClock as ServiceManualClock } from '../../service/clock';

export class ManualClock extends ServiceManualClock {
  constructor(start = Date.parse('2030-01-01T00:00:00.000Z')) {
    super(start);
  }
}
