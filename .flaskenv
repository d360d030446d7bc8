FLASK_APP=knowrithm.app:create_app
