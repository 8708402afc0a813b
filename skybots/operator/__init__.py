"""The Kopf operator: Bots into ConfigMaps and CronJobs, finished Jobs into status and history."""
