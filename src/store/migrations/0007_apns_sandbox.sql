-- An APNs token belongs to one environment: development builds of an app get
-- sandbox tokens, which production APNs refuses as BadDeviceToken (and the
-- other way round). The device says which; the dispatcher picks the host.
ALTER TABLE devices ADD COLUMN sandbox INTEGER NOT NULL DEFAULT 0;
